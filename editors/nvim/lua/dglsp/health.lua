-- :checkhealth dglsp
local M = {}

local health = vim.health

--- The configured command, split where the server's own arguments start: `base` runs the
--- dglsp CLI (`{ 'dglsp' }`, `{ 'python', '-m', 'dglsp' }`), `flags` are --model/--device.
local function server_command()
  local ok, cfg = pcall(function()
    return vim.lsp.config.dglsp
  end)
  cfg = ok and cfg or nil
  local cmd = cfg and cfg.cmd
  if type(cmd) ~= 'table' or #cmd == 0 then
    return nil, {}, cfg
  end
  local base, flags = {}, {}
  local i, seen_stdio = 1, false
  while i <= #cmd do
    local arg = cmd[i]
    if arg == '--stdio' then
      seen_stdio = true
    elseif not seen_stdio then
      base[#base + 1] = arg
    end
    local name, value = arg:match('^%-%-(%a+)=(.*)$')
    if not name and (arg == '--model' or arg == '--device') then
      name, value = arg:sub(3), cmd[i + 1]
      i = i + 1
    end
    if name == 'model' or name == 'device' then
      flags[name] = value
    end
    i = i + 1
  end
  local init = cfg.init_options or {}
  flags.model = init.model or flags.model
  flags.device = init.device or flags.device
  return base, flags, cfg
end

local function run(cmd, timeout_ms)
  local ok, proc = pcall(vim.system, cmd, { text = true })
  if not ok then
    return nil, tostring(proc)
  end
  local result = proc:wait(timeout_ms)
  if result.code == 124 then -- what vim.system reports when it killed the command at the timeout
    return nil, ('no answer within %d ms'):format(timeout_ms)
  end
  return result
end

local function check_executable(base)
  health.start('dglsp executable')
  if not base then
    health.error('no `cmd` for dglsp', {
      "Put editors/nvim on the runtimepath (it has lsp/dglsp.lua), or vim.lsp.config('dglsp', { cmd = ... })",
    })
    return false
  end
  local path = vim.fn.exepath(base[1])
  if path == '' then
    health.error(('`%s` is not on PATH'):format(base[1]), {
      'pip install dglsp (Python 3.11+; see the README), then start Neovim where `dglsp` is on PATH',
      "or give the full path: vim.lsp.config('dglsp', { cmd = { '/path/to/dglsp', '--stdio' } })",
    })
    return false
  end
  local result, err = run(vim.list_extend(vim.deepcopy(base), { '--version' }), 15000)
  if not result or result.code ~= 0 then
    local why = err or vim.trim(result.stderr)
    health.error(('`%s --version` failed: %s'):format(table.concat(base, ' '), why))
    return false
  end
  health.ok(('%s (%s)'):format(vim.trim(result.stdout), path))
  return true
end

local function check_neovim()
  health.start('Neovim')
  local v = vim.version()
  local version = ('%d.%d.%d'):format(v.major, v.minor, v.patch)
  if vim.fn.has('nvim-0.11') ~= 1 then
    health.error('Neovim ' .. version .. ': dglsp needs 0.11 or newer (vim.lsp.config, vim.lsp.enable)')
    return
  end
  health.ok('Neovim ' .. version)
  local config = require('dglsp.config')
  if not config.is_setup then
    health.warn("require('dglsp').setup() was not called: no ghost text, completions only in the menu", {
      "Call require('dglsp').setup() in your config (before the first file opens)",
    })
  elseif config.native() then
    health.ok('rendering: vim.lsp.inline_completion (native) for answers, dglsp extmarks for drafts')
  else
    local native = vim.lsp.inline_completion
        and ' (vim.lsp.inline_completion exists; render = "native" uses it)'
      or ' (vim.lsp.inline_completion needs Neovim 0.12)'
    health.ok('rendering: dglsp extmarks, inline virtual text and virtual lines' .. native)
  end
  if config.is_setup then
    health.info(('drafts: %s, debounce: %d ms'):format(
      config.options.drafts and 'on' or 'off',
      config.options.debounce_ms
    ))
  end
end

--- A real round trip: the dglsp.status command, answered by the running server.
local function server_status(client)
  local status = require('dglsp.status')
  if not status.has_command(client, 'dglsp.status') then
    return status.latest[client.id]
  end
  local response = client:request_sync(
    'workspace/executeCommand',
    { command = 'dglsp.status', arguments = {} },
    5000
  )
  if response and type(response.result) == 'table' then
    return response.result
  end
  return nil, response and response.err and response.err.message or 'no answer within 5 s'
end

local function check_server(cfg)
  health.start('dglsp language server')
  local clients = vim.lsp.get_clients({ name = 'dglsp' })
  if #clients == 0 then
    if not cfg then
      health.error('no dglsp configuration found', { 'Put editors/nvim on the runtimepath' })
    elseif vim.lsp.is_enabled and not vim.lsp.is_enabled('dglsp') then
      health.warn('dglsp is configured but not enabled', { "vim.lsp.enable('dglsp')" })
    else
      health.warn(
        'no dglsp client is running: open a file of one of its filetypes: '
          .. table.concat(cfg.filetypes or {}, ', '),
        { 'If one is open, the server failed to start: see the log, vim.lsp.log.get_filename()' }
      )
    end
    return
  end
  for _, client in ipairs(clients) do
    local buffers = vim.tbl_keys(client.attached_buffers)
    table.sort(buffers)
    local names = vim.tbl_map(function(buf)
      return vim.fn.fnamemodify(vim.api.nvim_buf_get_name(buf), ':~:.')
    end, buffers)
    if client:is_stopped() then
      health.error(('client %d has stopped'):format(client.id), { 'See the log: vim.lsp.log.get_filename()' })
    else
      health.ok(('client %d running, attached to %s; position encoding %s'):format(
        client.id,
        #names > 0 and table.concat(names, ', ') or 'no buffer',
        client.offset_encoding
      ))
      local status, err = server_status(client)
      if status then
        local report = status.state == 'error' and health.error or health.ok
        report(('server: %s; engine %s on %s; model %s%s'):format(
          status.state or '?',
          status.engine or '?',
          status.device or '?',
          status.model or status.modelPath or '?',
          (status.message and status.message ~= '') and (' (' .. status.message .. ')') or ''
        ))
      else
        health.info('server status unknown' .. (err and (': ' .. err) or ''))
      end
    end
  end
end

local STATUS = { ok = health.ok, warn = health.warn, fail = health.error, error = health.error }

local function check_doctor(base, flags)
  health.start('dglsp doctor')
  local cmd = vim.list_extend(vim.deepcopy(base), { 'doctor', '--json' })
  if flags.model then
    vim.list_extend(cmd, { '--model', flags.model })
  end
  if flags.device then
    vim.list_extend(cmd, { '--device', flags.device })
  end
  local result, err = run(cmd, 60000)
  if not result then
    health.error('`dglsp doctor --json` did not finish: ' .. err)
    return
  end
  local ok, report = pcall(vim.json.decode, result.stdout or '')
  if not ok or type(report) ~= 'table' or type(report.checks) ~= 'table' then
    health.error('`dglsp doctor --json` printed no report: ' .. vim.trim(result.stderr or ''))
    return
  end
  for _, check in ipairs(report.checks) do
    local report_fn = STATUS[check.status] or health.info
    local fix = (check.fix and check.fix ~= '') and { check.fix } or nil
    report_fn(('%s: %s'):format(check.name, check.summary or ''), fix)
  end
end

function M.check()
  local base, flags, cfg = server_command()
  local found = check_executable(base)
  check_neovim()
  check_server(cfg)
  if found then
    check_doctor(base, flags)
  end
end

return M
