-- (f) A server whose model cannot load: Neovim shows the server's message, typing shows no
-- ghost text and raises no Lua error, and :checkhealth dglsp says what is wrong.
local completion = require('dglsp.completion')
local ghost = require('dglsp.ghost')

T.run(function()
  require('dglsp').setup({ debounce_ms = 50 })
  vim.cmd.edit(vim.fn.fnameescape(PARAMS.file))
  local buf = vim.api.nvim_get_current_buf()
  local client = T.wait('dglsp to attach', 30000, function()
    local c = vim.lsp.get_clients({ bufnr = buf, name = 'dglsp' })[1]
    return c and c.initialized and c
  end)
  local message = T.wait('the error message', 60000, function()
    local messages = vim.api.nvim_exec2('messages', { output = true }).output
    return messages:find('LSP[dglsp]', 1, true) and messages
  end)
  T.set('message', message)

  local answered = false
  local on_result = completion.on_result
  completion.on_result = function(...)
    answered = true
    return on_result(...)
  end
  vim.api.nvim_win_set_cursor(0, { 10, 0 })
  T.input('o')
  T.input('x')
  T.wait('an answer', 90000, function()
    return answered and completion.pending == nil
  end)
  T.sleep(200)
  T.set('ghost_shown', ghost.get(buf) ~= nil)
  T.set('client_running', not client:is_stopped())
  T.input('<Esc>')

  vim.cmd('checkhealth dglsp')
  T.set('health', T.buffer_text(vim.api.nvim_get_current_buf()))
end, 150000)
