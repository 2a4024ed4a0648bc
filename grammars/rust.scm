; Captures read by dglsp/carve (see dglsp/carve/queries.py):
;   @function   a function-like definition with a body: the carved span around the cursor.
;   @decorator  nodes in front of the @function or @scope of the same match (decorators,
;               attributes, template heads, export): it starts at the earliest of them.
;   @scope      an enclosing definition whose header (up to its body) goes into the prompt header.
;   @import     import-like statements for the prompt header; these patterns only start at the
;               root or its children, so nested code is not searched for them.
;   Captures starting with "_" only serve predicates.

(function_item) @function
((attribute_item)+ @decorator
  .
  (function_item) @function)
(closure_expression) @function

(impl_item body: (_)) @scope
(trait_item body: (_)) @scope
(mod_item body: (_)) @scope

(use_declaration) @import
(extern_crate_declaration) @import
; "mod foo;" declares a module file
(mod_item !body) @import
