-- (a) lsp/dglsp.lua alone (no plugin): vim.lsp.enable attaches it to a Python buffer, and a
-- textDocument/inlineCompletion request inside a function returns an item.
T.run(function()
  local entry = dofile(vim.api.nvim_get_runtime_file('lsp/dglsp.lua', false)[1])
  T.set('entry_cmd', entry.cmd)
  T.set('entry_filetypes', entry.filetypes)
  T.set('entry_init_options', entry.init_options)

  vim.cmd.edit(vim.fn.fnameescape(PARAMS.file))
  local buf = vim.api.nvim_get_current_buf()
  T.set('filetype', vim.bo[buf].filetype)
  local client = T.wait('dglsp to attach', 30000, function()
    local c = vim.lsp.get_clients({ bufnr = buf, name = 'dglsp' })[1]
    return c and c.initialized and c
  end)
  T.set('client_cmd', client.config.cmd)
  T.set('inline_provider', client.server_capabilities.inlineCompletionProvider ~= nil)
  T.set('declared_inline', client.capabilities.textDocument.inlineCompletion ~= nil)

  -- Inside `spread`, at the end of `    high = max(values)`.
  vim.api.nvim_win_set_cursor(0, { 10, #'    high = max(values)' })
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 1 }
  local answer
  client:request('textDocument/inlineCompletion', params, function(err, result)
    answer = { err = err, result = result }
  end, buf)
  T.wait('the inline completion answer', 120000, function()
    return answer
  end)
  T.set('answer_error', answer.err or vim.NIL)
  T.set('items', answer.result and (answer.result.items or answer.result) or vim.NIL)
end, 150000)
