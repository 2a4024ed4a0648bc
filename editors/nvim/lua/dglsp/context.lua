-- :DglspContext: what dglsp would send to the model for the cursor (the server's
-- dglsp.context command, the same view as `dglsp context FILE:LINE:COL`), in a floating window.
local completion = require('dglsp.completion')
local status = require('dglsp.status')

local M = {}

M.win = nil ---@type integer|nil the last floating window opened

--- Opens `text` in a floating window; `q` or <Esc> closes it.
---@return integer win
function M.open_float(text)
  local lines = vim.split(text, '\n', { plain = true })
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'dglspcontext'
  local width = 20
  for _, line in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(line))
  end
  width = math.min(width, math.max(20, vim.o.columns - 6))
  local height = math.min(#lines, math.max(3, vim.o.lines - 6))
  local win = vim.api.nvim_open_win(buf, true, {
    relative = 'editor',
    row = math.floor((vim.o.lines - height) / 2),
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = height,
    style = 'minimal',
    border = 'rounded',
    title = ' dglsp context ',
    title_pos = 'center',
  })
  vim.wo[win].wrap = false
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set('n', key, '<Cmd>close<CR>', { buffer = buf, nowait = true, silent = true })
  end
  M.win = win
  return win
end

--- :DglspContext
function M.show()
  local buf = vim.api.nvim_get_current_buf()
  local client = completion.client(buf)
  if not client then
    vim.notify('dglsp: not attached to this buffer (see :checkhealth dglsp)', vim.log.levels.WARN)
    return
  end
  if not status.has_command(client, 'dglsp.context') then
    vim.notify(
      'dglsp: this server has no dglsp.context command (update dglsp, or run `dglsp context FILE:LINE:COL`)',
      vim.log.levels.WARN
    )
    return
  end
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding or 'utf-16')
  local args = { { textDocument = params.textDocument, position = params.position } }
  local request = { command = 'dglsp.context', arguments = args }
  client:request('workspace/executeCommand', request, function(err, result)
    if err then
      vim.notify('dglsp: context failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif type(result) ~= 'table' or type(result.text) ~= 'string' then
      vim.notify('dglsp: the server answered dglsp.context without a text', vim.log.levels.ERROR)
    else
      M.open_float(result.text)
    end
  end, buf)
end

return M
