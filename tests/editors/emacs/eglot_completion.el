;;; eglot_completion.el --- emacs --batch: eglot + dglsp.el, completion-at-point  -*- lexical-binding: t; -*-

;; emacs --batch -Q -l editors/emacs/dglsp.el -l tests/editors/emacs/eglot_completion.el
;; Environment: DGLSP_TEST_FILE (a Python file), DGLSP_TEST_CMD (dglsp-program, JSON list),
;; DGLSP_TEST_SETTINGS (dglsp-settings, JSON object), DGLSP_TEST_OUT (where the JSON result goes).
;; Opens the file in python-mode, connects with `eglot-ensure', opens a line in `spread' and
;; runs `completion-at-point'; records the completion item and the buffer before and after.

;;; Code:

(require 'cl-lib)
(require 'json)

(defvar dglsp-test--result nil "Alist written as JSON at the end.")
(defvar dglsp-test--responses nil "textDocument/completion responses seen.")

(defun dglsp-test--set (key value)
  (push (cons key value) dglsp-test--result))

(defun dglsp-test--wait (what seconds predicate)
  "Run timers and process output until PREDICATE is non-nil; error after SECONDS."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (not (setq value (funcall predicate)))
      (when (> (float-time) deadline)
        (error "Timed out after %ss waiting for %s" seconds what))
      (accept-process-output nil 0.05))
    value))

(defun dglsp-test--record-completion (request server method &rest args)
  (let ((response (apply request server method args)))
    (when (eq method :textDocument/completion)
      (push response dglsp-test--responses))
    response))

(defun dglsp-test--run ()
  (setq dglsp-program (append (json-parse-string (getenv "DGLSP_TEST_CMD")) nil))
  (setq dglsp-settings (json-parse-string (getenv "DGLSP_TEST_SETTINGS") :object-type 'plist))
  (find-file (getenv "DGLSP_TEST_FILE"))
  (dglsp-test--set 'major_mode (symbol-name major-mode))
  (eglot-ensure)
  (run-hooks 'post-command-hook)      ; eglot-ensure connects after the next command
  (dglsp-test--wait "eglot to manage the buffer" 60 (lambda () eglot--managed-mode))
  (let ((server (eglot-current-server)))
    (dglsp-test--set 'server_command (process-command (jsonrpc--process server)))
    (dglsp-test--set 'language_id (eglot--language-id server))
    (dglsp-test--set 'completion_provider
                     (and (eglot--server-capable :completionProvider) t))
    ;; The model loads in the background: wait until the server says it is ready.
    (let ((status (dglsp-test--wait
                   "the model to load" 90
                   (lambda ()
                     (let ((s (jsonrpc-request server :workspace/executeCommand
                                               '(:command "dglsp.status" :arguments []))))
                       (and (member (plist-get s :state) '("ready" "error")) s))))))
      (dglsp-test--set 'state (plist-get status :state))
      (dglsp-test--set 'model_path (plist-get status :modelPath))))
  ;; A new line inside `spread', after `high = max(values)'.
  (goto-char (point-min))
  (search-forward "    high = max(values)")
  (insert "\n    ")
  (dglsp-test--set 'line (1- (line-number-at-pos)))
  (dglsp-test--set 'column (current-column))
  (dglsp-test--set 'before (buffer-substring-no-properties (point-min) (point-max)))
  (advice-add 'jsonrpc-request :around #'dglsp-test--record-completion)
  (let ((jsonrpc-default-request-timeout 90))
    (completion-at-point))
  (advice-remove 'jsonrpc-request #'dglsp-test--record-completion)
  (dglsp-test--set 'after (buffer-substring-no-properties (point-min) (point-max)))
  (dglsp-test--set 'responses (vconcat dglsp-test--responses)))

(let ((out (getenv "DGLSP_TEST_OUT")))
  (condition-case err
      (dglsp-test--run)
    (error (dglsp-test--set 'error (error-message-string err))))
  (with-temp-file out
    (insert (json-encode dglsp-test--result)))
  (kill-emacs 0))

;;; eglot_completion.el ends here
