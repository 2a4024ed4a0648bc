; Captures read by dglsp/carve (see dglsp/carve/queries.py):
;   @function   a function-like definition with a body: the carved span around the cursor.
;   @decorator  nodes in front of the @function or @scope of the same match (decorators,
;               attributes, template heads, export): it starts at the earliest of them.
;   @scope      an enclosing definition whose header (up to its body) goes into the prompt header.
;   @import     import-like statements for the prompt header; these patterns only start at the
;               root or its children, so nested code is not searched for them.
;   Captures starting with "_" only serve predicates.

; annotations are inside the declarations' modifiers, so need no @decorator
(method_declaration body: (_)) @function
(constructor_declaration) @function
(compact_constructor_declaration) @function
(lambda_expression) @function

(class_declaration body: (_)) @scope
(interface_declaration body: (_)) @scope
(enum_declaration body: (_)) @scope
(record_declaration body: (_)) @scope
(annotation_type_declaration body: (_)) @scope

(package_declaration) @import
(import_declaration) @import
