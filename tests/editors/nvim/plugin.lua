-- (b, c, d, status, context, e) require('dglsp').setup() in a Python buffer, typing like a user:
-- drafts then the final ghost text, accept, dismiss, typing through, an edit that cancels,
-- :DglspStatus, :DglspContext and :checkhealth dglsp. Each phase records what Neovim showed.
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
  T.set('init_options', client.config.init_options)
  T.set('declared_inline', client.capabilities.textDocument.inlineCompletion ~= nil)

  -- What the plugin sends: requests (with their start time), answers, cancellations.
  local requests, answers, cancels = {}, {}, {}
  local request, on_result = completion.request, completion.on_result
  completion.request = function(...)
    request(...)
    if completion.pending then
      table.insert(requests, { id = completion.pending.id, t = vim.uv.hrtime() / 1e6 })
    end
  end
  completion.on_result = function(pending, err, result)
    if completion.pending == pending then -- a live answer, not one to a cancelled request
      table.insert(answers, { id = pending.id, err = err })
    end
    return on_result(pending, err, result)
  end
  local cancel_request = client.cancel_request
  client.cancel_request = function(self, id)
    table.insert(cancels, id)
    return cancel_request(self, id)
  end

  --- Types `chars` one key at a time (after `prefix`, e.g. 'o' or 'A') until the answer
  --- shows final ghost text that `accept_ghost` likes; returns it with its request's start.
  local function suggestion(prefix, chars, accept_ghost)
    T.input(prefix)
    for i = 1, #chars do
      local before = #answers
      T.input(T.key(chars:sub(i, i)))
      T.sleep(100) -- past the debounce
      T.wait('an answer', 120000, function()
        local shown = ghost.get(buf)
        return completion.pending == nil and (#answers > before or (shown and shown.kind == 'final'))
      end)
      local g = ghost.get(buf)
      if g and g.kind == 'final' and (not accept_ghost or accept_ghost(g)) then
        return g, requests[#requests].t
      end
    end
    error('no usable ghost text after typing ' .. chars, 0)
  end

  local function event_summary(since)
    local out = {}
    for _, e in ipairs(T.results.ghost_events) do
      if e.t >= since then
        out[#out + 1] = e
      end
    end
    return out
  end

  -- (b, c) In `spread`, open a line and type: drafts, then the final ghost text; accept it.
  vim.api.nvim_win_set_cursor(0, { 10, 0 })
  local g, started = suggestion('o', 'retu', nil)
  local before = T.buffer_text(buf)
  T.set('accept', {
    events = event_summary(started),
    ghost = { row = g.row, col = g.col, text = g.text },
    marks = T.ghost_marks(buf),
    tabstop = vim.bo[buf].tabstop,
    before = before,
  })
  T.input('<Tab>')
  T.wait('the text to be inserted', 2000, function()
    return T.buffer_text(buf) ~= before
  end)
  T.results.values.accept.after = T.buffer_text(buf)
  T.results.values.accept.cursor = vim.api.nvim_win_get_cursor(0)
  T.input('<Esc>')
  T.wait('normal mode', 2000, function()
    return vim.api.nvim_get_mode().mode == 'n'
  end)
  T.set('marks_after_insert_leave', T.ghost_marks(buf))

  -- Dismiss: the ghost text goes, the buffer stays as it is.
  vim.api.nvim_win_set_cursor(0, { 4, 0 })
  suggestion('A', ' *-/', nil)
  before = T.buffer_text(buf)
  local requests_before = #requests
  T.input('<C-]>')
  T.sleep(300) -- longer than the debounce: a request it caused would have started
  T.set('dismiss', {
    before = before,
    after = T.buffer_text(buf),
    marks = T.ghost_marks(buf),
    shown = ghost.get(buf) ~= nil,
    new_requests = #requests - requests_before,
  })
  T.input('<Esc>')

  -- (d) Typing the ghost text's first character keeps the rest, with no new request.
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  g = suggestion('A', ' +-*/%&|^', function(candidate)
    return candidate.text:sub(1, 1):match('^[%w%p ]$') ~= nil
  end)
  local first = g.text:sub(1, 1)
  before = T.buffer_text(buf)
  requests_before = #requests
  local cancels_before = #cancels
  T.input(T.key(first))
  T.sleep(300)
  local kept = ghost.get(buf)
  T.set('type_through', {
    ghost = { row = g.row, col = g.col, text = g.text },
    typed = first,
    kept = kept and { row = kept.row, col = kept.col, text = kept.text, kind = kept.kind } or vim.NIL,
    marks = T.ghost_marks(buf),
    new_requests = #requests - requests_before,
    cancels = #cancels - cancels_before,
    before = before,
    tabstop = vim.bo[buf].tabstop,
  })
  T.input('<Tab>')
  T.sleep(100)
  T.results.values.type_through.after = T.buffer_text(buf)
  T.input('<Esc>')

  -- An edit that does not match: the ghost text goes at once; typing while a request is in
  -- flight cancels it with $/cancelRequest.
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  g = suggestion('A', ' #', nil)
  local other = g.text:sub(1, 1) == 'Q' and 'Z' or 'Q'
  T.input(other)
  local cleared = ghost.get(buf) == nil
  local in_flight = T.wait('a request in flight', 5000, function()
    return completion.pending and completion.pending.id
  end)
  T.input('W')
  T.sleep(100)
  T.set('edit', {
    cleared = cleared,
    in_flight = in_flight,
    cancelled = vim.tbl_contains(cancels, in_flight),
  })
  T.input('<Esc>')
  T.wait('the server to be idle', 120000, function()
    local latest = require('dglsp.status').latest[client.id]
    return completion.pending == nil and latest and latest.state == 'ready'
  end)

  -- :DglspStatus and :DglspContext
  vim.api.nvim_win_set_cursor(0, { 10, 4 })
  local notes = #T.results.notifications
  vim.cmd('DglspStatus')
  T.wait(':DglspStatus output', 10000, function()
    return #T.results.notifications > notes
  end)
  T.set('status', T.results.notifications[#T.results.notifications].msg)
  local context = require('dglsp.context')
  context.win = nil
  vim.cmd('DglspContext')
  local win = T.wait('the context window', 10000, function()
    return context.win
  end)
  T.set('context', {
    floating = vim.api.nvim_win_get_config(win).relative ~= '',
    text = T.buffer_text(vim.api.nvim_win_get_buf(win)),
  })
  vim.api.nvim_win_close(win, true)

  -- (e) :checkhealth dglsp with the server running.
  vim.cmd('checkhealth dglsp')
  T.set('health', T.buffer_text(vim.api.nvim_get_current_buf()))
end, 170000)
