;;; dglsp.el --- DiffusionGemma infill completions (dglsp) through eglot  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: languages, tools, completion
;; URL: see the dglsp repository, editors/emacs

;;; Commentary:

;; Registers `dglsp --stdio' with eglot for the languages dglsp has a grammar for.
;; eglot has no inline completion (ghost text): it asks textDocument/completion, and dglsp
;; answers with its infill as one completion item, which `completion-at-point' (M-TAB, or
;; company/corfu) inserts.
;;
;;   (load "/path/to/dglsp/editors/emacs/dglsp.el")
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;
;; eglot runs one server per buffer: in these modes dglsp takes the place of the language
;; server eglot would otherwise start (pylsp, clangd, ...).  Settings go to dglsp as
;; initializationOptions (`dglsp-settings'); see docs/usage.md#settings.

;;; Code:

(require 'eglot)

(defgroup dglsp nil
  "Code completions by infilling with DiffusionGemma (dglsp)."
  :group 'eglot
  :prefix "dglsp-")

(defcustom dglsp-program '("dglsp" "--stdio")
  "The command that starts the dglsp language server, as a list of strings."
  :type '(repeat string))

(defcustom dglsp-settings nil
  "dglsp settings sent as initializationOptions, a plist with camelCase keys.
For example (:model \"/models/diffusiongemma\" :steps 24 :device \"cuda\").
nil keeps the server's defaults (and its --model/--device flags)."
  :type '(plist :key-type symbol :value-type sexp))

(defcustom dglsp-modes
  '((python-mode :language-id "python")
    (python-ts-mode :language-id "python")
    (js-mode :language-id "javascript")
    (js-ts-mode :language-id "javascript")
    (typescript-mode :language-id "typescript")
    (typescript-ts-mode :language-id "typescript")
    (tsx-ts-mode :language-id "typescriptreact")
    (rust-mode :language-id "rust")
    (rust-ts-mode :language-id "rust")
    (go-mode :language-id "go")
    (go-ts-mode :language-id "go")
    (c-mode :language-id "c")
    (c-ts-mode :language-id "c")
    (c++-mode :language-id "cpp")
    (c++-ts-mode :language-id "cpp")
    (java-mode :language-id "java")
    (java-ts-mode :language-id "java"))
  "Major modes served by dglsp, each with the LSP language id dglsp knows it by.
Call `dglsp-eglot-register' after changing it."
  :type '(repeat sexp))

(defun dglsp--initialization-options (_server)
  "The initializationOptions for dglsp: `dglsp-settings', or an empty object."
  (or dglsp-settings (make-hash-table)))

(defun dglsp--contact (&optional _interactive)
  "The eglot contact for dglsp.
Read each time a server starts, so customizations apply without re-registering."
  (append dglsp-program (list :initializationOptions #'dglsp--initialization-options)))

(defun dglsp--entry-p (entry)
  "Whether ENTRY of `eglot-server-programs' is dglsp's."
  (eq (cdr entry) #'dglsp--contact))

;;;###autoload
(defun dglsp-eglot-register ()
  "Put dglsp first in `eglot-server-programs' for `dglsp-modes'."
  (interactive)
  (setq eglot-server-programs (cl-remove-if #'dglsp--entry-p eglot-server-programs))
  (push (cons dglsp-modes #'dglsp--contact) eglot-server-programs))

(defun dglsp-eglot-unregister ()
  "Remove dglsp from `eglot-server-programs'."
  (interactive)
  (setq eglot-server-programs (cl-remove-if #'dglsp--entry-p eglot-server-programs)))

(dglsp-eglot-register)

(provide 'dglsp)
;;; dglsp.el ends here
