; Captures read by dglsp/carve (see dglsp/carve/queries.py):
;   @function   a function-like definition with a body: the carved span around the cursor.
;   @decorator  nodes in front of the @function or @scope of the same match (decorators,
;               attributes, template heads, export): it starts at the earliest of them.
;   @scope      an enclosing definition whose header (up to its body) goes into the prompt header.
;   @import     import-like statements for the prompt header; these patterns only start at the
;               root or its children, so nested code is not searched for them.
;   Captures starting with "_" only serve predicates.

(function_definition) @function
(decorated_definition
  definition: (function_definition) @function) @decorator
(lambda) @function

(class_definition body: (_)) @scope
(decorated_definition
  definition: (class_definition body: (_)) @scope) @decorator

(import_statement) @import
(import_from_statement) @import
(future_import_statement) @import
; "if TYPE_CHECKING:" and "try: import x" at module level
(if_statement consequence: (block [(import_statement) (import_from_statement)] @import))
(try_statement body: (block [(import_statement) (import_from_statement)] @import))
