-- The request cycle: debounce, textDocument/inlineCompletion at the cursor, dglsp/draft
-- notifications while it runs, the final item, and what edits do to the ghost text.
local config = require('dglsp.config')
local ghost = require('dglsp.ghost')

local M = {}

local REQUEST_CANCELLED = -32800

---@class dglsp.Pending
---@field client_id integer
---@field id integer|nil JSON-RPC id of the request (nil until sent)
---@field buf integer
---@field version integer the document version the request was computed for
---@field position lsp.Position as sent
---@field row integer
---@field col integer
---@field encoding string
---@field started number hrtime

---@type dglsp.Pending|nil
M.pending = nil
M.last_latency_ms = nil ---@type number|nil
-- The candidates of the last answer, cycled by next/prev: { buf, index, ghosts }.
M.candidates = nil

local timer = nil ---@type uv.uv_timer_t|nil
local scheduled = nil ---@type { buf: integer, row: integer, col: integer }|nil where the timer will ask
local seen_tick = {} ---@type table<integer, integer> changedtick each buffer had when last synced

---@param buf integer
---@return vim.lsp.Client|nil
function M.client(buf)
  return vim.lsp.get_clients({ bufnr = buf, name = 'dglsp' })[1]
end

local function in_insert_mode()
  return vim.api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

--- A 0-based byte column of `line` from an LSP character offset in `encoding`.
local function byte_col(line, character, encoding)
  if encoding == 'utf-8' then
    return math.min(character, #line)
  end
  local ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  return ok and col or #line
end

--- The ghost text an InlineCompletionItem (or a draft's text and range) shows at
--- (row, col): its text without the part of the line its range covers before the cursor
--- (the partly typed word, which the text starts with). nil when it cannot be shown there.
---@return dglsp.Ghost|nil
function M.to_ghost(buf, row, col, item, encoding, kind)
  local text = item.insertText
  if type(text) == 'table' then
    text = text.value -- a snippet StringValue: shown and inserted as plain text
  end
  if type(text) ~= 'string' then
    return nil
  end
  local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
  local start_col, end_col = col, col
  local range = item.range
  if type(range) == 'table' then
    if range.start.line ~= row or range['end'].line ~= row then
      return nil
    end
    start_col = byte_col(line, range.start.character, encoding)
    end_col = byte_col(line, range['end'].character, encoding)
  end
  if start_col > col or end_col < col then
    return nil
  end
  local typed = line:sub(start_col + 1, col)
  if text:sub(1, #typed) ~= typed then
    return nil
  end
  local rest = text:sub(#typed + 1)
  if rest:match('^%s*$') then
    return nil -- nothing worth drawing
  end
  return {
    buf = buf,
    row = row,
    col = col,
    text = rest,
    replace_end = end_col,
    kind = kind,
    prefix = line:sub(1, col),
  }
end

--- Stops the debounce timer and cancels the request in flight ($/cancelRequest).
function M.cancel()
  if timer then
    timer:stop()
  end
  scheduled = nil
  local pending = M.pending
  M.pending = nil
  if pending and pending.id then
    local client = vim.lsp.get_client_by_id(pending.client_id)
    if client then
      client:cancel_request(pending.id)
    end
  end
end

--- Asks for an inline completion at the cursor of the current window, now.
---@param buf integer
---@param invoked boolean|nil true when the user asked (no server-side debounce)
function M.request(buf, invoked)
  M.cancel()
  local client = M.client(buf)
  local win = vim.api.nvim_get_current_win()
  if not client or not config.options.enabled or vim.api.nvim_win_get_buf(win) ~= buf then
    return
  end
  if config.native() then
    return -- Neovim's own inline completion asks; drafts still come through on_draft
  end
  local cursor = vim.api.nvim_win_get_cursor(win)
  local encoding = client.offset_encoding or 'utf-16'
  local params = vim.lsp.util.make_position_params(win, encoding)
  params.context = { triggerKind = invoked and 1 or 2 } -- Invoked or Automatic
  ---@type dglsp.Pending
  local pending = {
    client_id = client.id,
    buf = buf,
    version = 0,
    position = params.position,
    row = cursor[1] - 1,
    col = cursor[2],
    encoding = encoding,
    started = vim.uv.hrtime(),
  }
  M.pending = pending
  local ok, id = client:request('textDocument/inlineCompletion', params, function(err, result)
    M.on_result(pending, err, result)
  end, buf)
  if not ok then
    M.pending = nil
    return
  end
  pending.id = id
  -- The request flushed pending didChanges first, so this is the version it was computed for.
  pending.version = vim.lsp.util.buf_versions[buf]
end

--- Requests again after `debounce_ms` without typing.
---@param buf integer
function M.schedule(buf)
  M.cancel()
  if not config.options.enabled or not M.client(buf) then
    return
  end
  local cursor = vim.api.nvim_win_get_cursor(0)
  scheduled = { buf = buf, row = cursor[1] - 1, col = cursor[2] }
  timer = timer or assert(vim.uv.new_timer())
  timer:start(
    config.options.debounce_ms,
    0,
    vim.schedule_wrap(function()
      scheduled = nil
      if in_insert_mode() and vim.api.nvim_get_current_buf() == buf then
        M.request(buf, false)
      end
    end)
  )
end

local function still_at(pending)
  if not vim.api.nvim_buf_is_valid(pending.buf) or vim.api.nvim_get_current_buf() ~= pending.buf then
    return false
  end
  local cursor = vim.api.nvim_win_get_cursor(0)
  return cursor[1] - 1 == pending.row
    and cursor[2] == pending.col
    and vim.lsp.util.buf_versions[pending.buf] == pending.version
end

---@param pending dglsp.Pending
function M.on_result(pending, err, result)
  if M.pending ~= pending then
    return -- cancelled or superseded: whatever it answered is stale
  end
  M.pending = nil
  M.last_latency_ms = (vim.uv.hrtime() - pending.started) / 1e6
  if err then
    if err.code ~= REQUEST_CANCELLED then
      vim.lsp.log.warn('dglsp: inline completion failed: ' .. vim.inspect(err))
    end
    ghost.clear(pending.buf)
    return
  end
  if not still_at(pending) then
    ghost.clear(pending.buf)
    return
  end
  local items = type(result) == 'table' and (result.items or result) or {}
  local ghosts = {}
  for _, item in ipairs(items) do
    local g = M.to_ghost(pending.buf, pending.row, pending.col, item, pending.encoding, 'final')
    if g then
      ghosts[#ghosts + 1] = g
    end
  end
  if #ghosts == 0 then
    M.candidates = nil
    ghost.clear(pending.buf)
    return
  end
  M.candidates = { buf = pending.buf, index = 1, ghosts = ghosts }
  ghost.show(ghosts[1])
end

--- Handler of dglsp/draft: the request's middle after one more denoising step.
function M.on_draft(_, params, ctx)
  if not config.options.enabled or not config.options.drafts or type(params) ~= 'table' then
    return
  end
  local pending = M.pending
  if config.native() then
    pending = M.native_pending(ctx.client_id, params)
  end
  if not pending or ctx.client_id ~= pending.client_id then
    return
  end
  if params.requestId ~= nil and pending.id ~= nil and params.requestId ~= pending.id then
    return
  end
  local doc, pos = params.textDocument or {}, params.position or {}
  if
    doc.uri ~= vim.uri_from_bufnr(pending.buf)
    or doc.version ~= vim.lsp.util.buf_versions[pending.buf]
    or pos.line ~= pending.position.line
    or pos.character ~= pending.position.character
    or not still_at(pending)
  then
    return -- a draft for text or a cursor that is gone
  end
  if params.final and params.text == '' then
    ghost.clear(pending.buf)
    return
  end
  local item = { insertText = params.text, range = params.range }
  local g = M.to_ghost(pending.buf, pending.row, pending.col, item, pending.encoding, 'draft')
  if g then
    g.step, g.final = params.step, params.final == true
    ghost.show(g)
  end
  if config.native() and params.final then
    ghost.clear(pending.buf) -- Neovim's inline completion shows the answer
  end
end

--- With render = 'native' the plugin sends no request: a draft is matched to the cursor instead.
function M.native_pending(client_id, params)
  local buf = vim.api.nvim_get_current_buf()
  local client = vim.lsp.get_client_by_id(client_id)
  if not client or not in_insert_mode() then
    return nil
  end
  local cursor = vim.api.nvim_win_get_cursor(0)
  local encoding = client.offset_encoding or 'utf-16'
  local position = vim.lsp.util.make_position_params(0, encoding).position
  return {
    client_id = client_id,
    id = params.requestId,
    buf = buf,
    version = vim.lsp.util.buf_versions[buf],
    position = position,
    row = cursor[1] - 1,
    col = cursor[2],
    encoding = encoding,
    started = 0,
  }
end

--- After an edit or a cursor move in insert mode: keep the ghost text when the user typed
--- what it shows; otherwise drop it and the request, and ask again after an edit.
---@param buf integer
function M.sync(buf)
  local tick = vim.api.nvim_buf_get_changedtick(buf)
  local changed = seen_tick[buf] ~= tick
  seen_tick[buf] = tick
  local cursor = vim.api.nvim_win_get_cursor(0)
  local row, col = cursor[1] - 1, cursor[2]
  local g = ghost.get(buf)
  if not changed then
    -- A cursor event without an edit (it also follows each typed character): only a move
    -- away from where the ghost text, the request or the timer belong drops them.
    local at = g or (M.pending and M.pending.buf == buf and M.pending) or scheduled
    if not at or (at.buf == buf and at.row == row and at.col == col) then
      return
    end
    M.stop(buf)
    return
  end
  if g and g.kind == 'final' and row == g.row then
    local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
    if col > g.col and line:sub(1, g.col) == g.prefix then
      local typed = line:sub(g.col + 1, col)
      if #typed < #g.text and g.text:sub(1, #typed) == typed then
        M.candidates = nil
        ghost.show(vim.tbl_extend('force', g, {
          col = col,
          text = g.text:sub(#typed + 1),
          replace_end = g.replace_end + #typed,
          prefix = line:sub(1, col),
        }))
        return
      end
    end
  end
  ghost.clear(buf)
  M.cancel()
  if in_insert_mode() then
    M.schedule(buf)
  end
end

--- Remembers the buffer's state as seen, so the next sync does not count it as an edit.
function M.mark_seen(buf)
  seen_tick[buf] = vim.api.nvim_buf_get_changedtick(buf)
end

--- Stops everything in `buf` (insert mode left, buffer left, plugin turned off).
function M.stop(buf)
  M.cancel()
  M.candidates = nil
  ghost.clear(buf)
end

--- Shows the next (step 1) or previous (step -1) candidate of the last answer.
---@return boolean moved
function M.cycle(buf, step)
  local c = M.candidates
  local g = ghost.get(buf)
  if not c or c.buf ~= buf or not g or #c.ghosts < 2 then
    return false
  end
  c.index = (c.index - 1 + step) % #c.ghosts + 1
  ghost.show(c.ghosts[c.index])
  return true
end

return M
