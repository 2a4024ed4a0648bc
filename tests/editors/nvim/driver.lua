-- Drives a headless Neovim like a user: a scenario runs as a coroutine that types with
-- nvim_input (the keys go through Neovim's input loop, insert mode and mappings included) and
-- waits on conditions with timers; the results go to $DGLSP_TEST_OUT as JSON, then Neovim quits.
local T = { results = { values = {}, notifications = {}, ghost_events = {} } }

local out_path = assert(vim.env.DGLSP_TEST_OUT, 'DGLSP_TEST_OUT is not set')
local finished = false

local function now_ms()
  return vim.uv.hrtime() / 1e6
end

local function finish(err)
  if finished then
    return
  end
  finished = true
  T.results.error = err
  T.results.messages = vim.api.nvim_exec2('messages', { output = true }).output
  local file = assert(io.open(out_path, 'w'))
  file:write(vim.json.encode(T.results))
  file:close()
  vim.cmd('qa!')
end

--- Records a value for the Python side.
function T.set(key, value)
  T.results.values[key] = value
end

--- Pauses the scenario for `ms` while Neovim runs (timers, LSP messages, typed keys).
function T.sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function()
    local ok, err = coroutine.resume(co)
    if not ok then
      finish(debug.traceback(co, err))
    end
  end, ms)
  coroutine.yield()
end

--- Waits until `cond()` is truthy and returns its value; a timeout fails the scenario.
function T.wait(what, timeout_ms, cond)
  local deadline = now_ms() + timeout_ms
  while true do
    local ok, value = pcall(cond)
    if ok and value then
      return value
    end
    if now_ms() > deadline then
      error(('timed out after %d ms waiting for %s'):format(timeout_ms, what), 0)
    end
    T.sleep(25)
  end
end

--- Types keys as a user would (Neovim key notation: '<Tab>', '<Esc>', '<lt>' for '<').
function T.input(keys)
  vim.api.nvim_input(keys)
  T.sleep(10) -- let the input loop take them
end

--- The text of a character for nvim_input.
function T.key(char)
  return char == '<' and '<lt>' or char
end

function T.buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf or 0, 0, -1, false), '\n')
end

--- What the plugin's extmarks show: inline virtual text, then each virtual line, joined by newlines.
function T.ghost_marks(buf)
  local ns = require('dglsp.ghost').ns
  local marks = vim.api.nvim_buf_get_extmarks(buf or 0, ns, 0, -1, { details = true })
  local shown = {}
  for _, mark in ipairs(marks) do
    local details = mark[4]
    local first = {}
    for _, chunk in ipairs(details.virt_text or {}) do
      first[#first + 1] = chunk[1]
    end
    local lines = { table.concat(first) }
    for _, vline in ipairs(details.virt_lines or {}) do
      local parts = {}
      for _, chunk in ipairs(vline) do
        parts[#parts + 1] = chunk[1]
      end
      lines[#lines + 1] = table.concat(parts)
    end
    shown[#shown + 1] = { row = mark[2], col = mark[3], text = table.concat(lines, '\n') }
  end
  return shown
end

-- Everything shown through vim.notify, for the Python side.
local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(T.results.notifications, { msg = msg, level = level })
  return notify(msg, level, opts)
end

-- Every ghost-text rendering, with the extmarks as they are at that moment.
vim.api.nvim_create_autocmd('User', {
  pattern = 'DglspGhost',
  callback = function(args)
    local data = args.data or {}
    table.insert(T.results.ghost_events, {
      kind = data.kind,
      text = data.text,
      row = data.row,
      col = data.col,
      marks = T.ghost_marks(data.buf),
      t = now_ms(),
    })
  end,
})

--- Runs `scenario` once Neovim has started; `timeout_ms` bounds the whole run.
function T.run(scenario, timeout_ms)
  vim.api.nvim_create_autocmd('VimEnter', {
    once = true,
    callback = function()
      vim.defer_fn(function()
        finish('the scenario did not finish within ' .. timeout_ms .. ' ms')
      end, timeout_ms)
      local co = coroutine.create(function()
        scenario()
        finish(nil)
      end)
      vim.schedule(function()
        local ok, err = coroutine.resume(co)
        if not ok then
          finish(debug.traceback(co, err))
        end
      end)
    end,
  })
end

return T
