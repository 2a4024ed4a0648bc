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
; decorators of a method are its siblings in the class body (unlike in javascript)
(class_body
  (decorator)+ @decorator
  .
  (method_definition) @function)

(class_declaration body: (_)) @scope
(abstract_class_declaration body: (_)) @scope
(class body: (_)) @scope
; "@Injectable() export class X {": the decorators belong to the export statement
(export_statement
  declaration: [(class_declaration body: (_)) (abstract_class_declaration body: (_))] @scope) @decorator
(interface_declaration body: (_)) @scope
(internal_module body: (_)) @scope
(module body: (_)) @scope

(import_statement) @import
; const x = require("x")
(lexical_declaration
  (variable_declarator
    value: (call_expression function: (identifier) @_require (#eq? @_require "require")))) @import
(variable_declaration
  (variable_declarator
    value: (call_expression function: (identifier) @_require (#eq? @_require "require")))) @import

(import_alias) @import
