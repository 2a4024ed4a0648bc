; Captures read by dglsp/carve (see dglsp/carve/queries.py):
;   @function   a function-like definition with a body: the carved span around the cursor.
;   @decorator  nodes in front of the @function or @scope of the same match (decorators,
;               attributes, template heads, export): it starts at the earliest of them.
;   @scope      an enclosing definition whose header (up to its body) goes into the prompt header.
;   @import     import-like statements for the prompt header; these patterns only start at the
;               root or its children, so nested code is not searched for them.
;   Captures starting with "_" only serve predicates.

(function_definition) @function
(template_declaration (function_definition) @function) @decorator
(lambda_expression) @function

(class_specifier body: (_)) @scope
(template_declaration [(class_specifier body: (_)) (struct_specifier body: (_))] @scope) @decorator
(struct_specifier body: (_)) @scope
(union_specifier body: (_)) @scope
(namespace_definition body: (_)) @scope
(linkage_specification body: (_)) @scope

(preproc_include) @import
(preproc_ifdef (preproc_include) @import)
(preproc_if (preproc_include) @import)
(using_declaration) @import
(namespace_alias_definition) @import
