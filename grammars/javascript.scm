; Captures read by dglsp/carve (see dglsp/carve/queries.py):
;   @function   a function-like definition with a body: the carved span around the cursor.
;   @decorator  nodes in front of the @function or @scope of the same match (decorators,
;               attributes, template heads, export): it starts at the earliest of them.
;   @scope      an enclosing definition whose header (up to its body) goes into the prompt header.
;   @import     import-like statements for the prompt header; these patterns only start at the
;               root or its children, so nested code is not searched for them.
;   Captures starting with "_" only serve predicates.

(function_declaration) @function
(function_expression) @function
(generator_function_declaration) @function
(generator_function) @function
(arrow_function) @function
(method_definition) @function
; (method decorators are inside method_definition in this grammar)

(class_declaration body: (_)) @scope
(class body: (_)) @scope
(export_statement declaration: (class_declaration body: (_)) @scope) @decorator

(import_statement) @import
; const x = require("x")
(lexical_declaration
  (variable_declarator
    value: (call_expression function: (identifier) @_require (#eq? @_require "require")))) @import
(variable_declaration
  (variable_declarator
    value: (call_expression function: (identifier) @_require (#eq? @_require "require")))) @import

