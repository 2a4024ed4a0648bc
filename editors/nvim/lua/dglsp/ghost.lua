-- Ghost text: the suggestion drawn as extmarks at the cursor, and nothing else.
-- The first line is inline virtual text at the cursor, further lines are virtual lines below.
local M = {}

M.ns = vim.api.nvim_create_namespace('dglsp_ghost')

---@class dglsp.Ghost
---@field buf integer
---@field row integer 0-based line of the cursor the ghost text starts at
---@field col integer 0-based byte column of that cursor
---@field text string what accepting inserts at (row, col)
---@field replace_end integer byte column on `row` up to which accepting replaces text (>= col)
---@field kind 'draft'|'final'
---@field prefix string the line's text before `col` when shown (typing through checks it)

---@type dglsp.Ghost|nil
M.current = nil

local function emit(data)
  vim.api.nvim_exec_autocmds('User', { pattern = 'DglspGhost', modeline = false, data = data })
end

local function caret(char)
  return char == '\127' and '^?' or '^' .. string.char(char:byte() + 64)
end

--- The lines as drawn: tabs expanded to 'tabstop' spaces (virtual text does not expand them),
--- other control characters as ^X, the way Neovim shows them in the buffer.
---@param text string
---@param buf integer
---@return string[]
function M.display_lines(text, buf)
  local tab = string.rep(' ', vim.bo[buf].tabstop)
  local lines = vim.split(text, '\n', { plain = true })
  for i, line in ipairs(lines) do
    lines[i] = line:gsub('\r$', ''):gsub('\t', tab):gsub('[%z\1-\31\127]', caret)
  end
  return lines
end

---@param ghost dglsp.Ghost
function M.show(ghost)
  local buf = ghost.buf
  vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  local lines = M.display_lines(ghost.text, buf)
  local mark = { hl_mode = 'combine', priority = 200 }
  if lines[1] ~= '' then
    mark.virt_text = { { lines[1], 'DglspGhost' } }
    mark.virt_text_pos = 'inline'
  end
  if #lines > 1 then
    mark.virt_lines = {}
    for i = 2, #lines do
      mark.virt_lines[#mark.virt_lines + 1] = { { lines[i], 'DglspGhost' } }
    end
  end
  vim.api.nvim_buf_set_extmark(buf, M.ns, ghost.row, ghost.col, mark)
  M.current = ghost
  emit({ buf = buf, kind = ghost.kind, text = ghost.text, row = ghost.row, col = ghost.col })
end

--- Removes the ghost text (of `buf`, or wherever it is).
---@param buf integer|nil
function M.clear(buf)
  local ghost = M.current
  if not ghost or (buf and ghost.buf ~= buf) then
    return
  end
  M.current = nil
  if vim.api.nvim_buf_is_valid(ghost.buf) then
    vim.api.nvim_buf_clear_namespace(ghost.buf, M.ns, 0, -1)
  end
  emit({ buf = ghost.buf, kind = 'clear' })
end

--- The ghost text shown in `buf`, if any.
---@param buf integer
---@return dglsp.Ghost|nil
function M.get(buf)
  local ghost = M.current
  if ghost and ghost.buf == buf then
    return ghost
  end
end

return M
