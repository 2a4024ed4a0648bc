-- Accepting ghost text, all of it or a part, and the insert-mode keys that do it.
local completion = require('dglsp.completion')
local config = require('dglsp.config')
local ghost = require('dglsp.ghost')

local M = {}

--- The part of `text` a partial accept takes.
local parts = {
  all = function(text)
    return text
  end,
  -- Leading blanks, then a run of word characters or a run of other non-blank ones.
  word = function(text)
    return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text:match('^%s+') or text
  end,
  -- The rest of the current line; when the text starts on a new line, that next line.
  line = function(text)
    return text:match('^\r?\n[^\n]*') or text:match('^[^\n]+') or text
  end,
}

--- Inserts (part of) the ghost text shown in the current buffer.
---@param what 'all'|'word'|'line'
---@return boolean accepted false when there was no ghost text (the key then does its usual job)
function M.accept(what)
  local buf = vim.api.nvim_get_current_buf()
  local g = ghost.get(buf)
  if not g or g.kind ~= 'final' then
    return false
  end
  local part = parts[what](g.text)
  local rest = g.text:sub(#part + 1)
  local lines = vim.split(part, '\n', { plain = true })
  -- Only the whole suggestion replaces what its range covered after the cursor.
  local end_col = rest == '' and g.replace_end or g.col
  completion.cancel()
  ghost.clear(buf)
  vim.api.nvim_buf_set_text(buf, g.row, g.col, g.row, end_col, lines)
  local row = g.row + #lines - 1
  local col = #lines == 1 and g.col + #lines[1] or #lines[#lines]
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  if rest ~= '' then
    local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
    completion.mark_seen(buf)
    ghost.show(vim.tbl_extend('force', g, {
      row = row,
      col = col,
      text = rest,
      replace_end = col,
      prefix = line:sub(1, col),
    }))
  end
  return true
end

--- Removes the ghost text and stops the request.
---@return boolean dismissed
function M.dismiss()
  local buf = vim.api.nvim_get_current_buf()
  local shown = ghost.get(buf) ~= nil
  local busy = completion.pending ~= nil
  completion.stop(buf)
  return shown or busy
end

local actions = {
  accept = function()
    return M.accept('all')
  end,
  accept_word = function()
    return M.accept('word')
  end,
  accept_line = function()
    return M.accept('line')
  end,
  dismiss = M.dismiss,
  next = function()
    return completion.cycle(vim.api.nvim_get_current_buf(), 1)
  end,
  prev = function()
    return completion.cycle(vim.api.nvim_get_current_buf(), -1)
  end,
}
M.actions = actions

--- Maps the configured keys in `buf`. A key does its action only while ghost text is shown
--- (or, for dismiss, a request runs); otherwise it does what it did before.
function M.map_keys(buf)
  for name, lhs in pairs(config.options.keys) do
    if lhs then
      vim.keymap.set('i', lhs, function()
        if not actions[name]() then
          vim.api.nvim_feedkeys(vim.keycode(lhs), 'n', false)
        end
      end, { buffer = buf, silent = true, desc = 'dglsp: ' .. name:gsub('_', ' ') })
    end
  end
end

function M.unmap_keys(buf)
  for _, lhs in pairs(config.options.keys) do
    if lhs then
      pcall(vim.keymap.del, 'i', lhs, { buffer = buf })
    end
  end
end

return M
