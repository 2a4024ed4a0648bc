-- What the server says about itself: dglsp/status notifications, the dglsp.status command,
-- and the plugin's own latency measurement. :DglspStatus and the statusline read it here.
local completion = require('dglsp.completion')

local M = {}

M.latest = {} ---@type table<integer, table> client id -> the last dglsp/status params

--- Handler of the dglsp/status notification.
function M.on_status(_, params, ctx)
  if type(params) == 'table' then
    M.latest[ctx.client_id] = params
    vim.api.nvim_exec_autocmds('User', { pattern = 'DglspStatus', modeline = false, data = params })
  end
end

--- Whether the server advertises a workspace/executeCommand command.
---@param client vim.lsp.Client
function M.has_command(client, name)
  local provider = client.server_capabilities.executeCommandProvider
  return type(provider) == 'table' and vim.tbl_contains(provider.commands or {}, name)
end

--- The client of the current buffer, or any dglsp client.
---@return vim.lsp.Client|nil
function M.client()
  return completion.client(vim.api.nvim_get_current_buf()) or vim.lsp.get_clients({ name = 'dglsp' })[1]
end

--- Asks the server for its status; `callback(status|nil, err|nil)`.
function M.fetch(client, callback)
  if not M.has_command(client, 'dglsp.status') then
    callback(M.latest[client.id], nil)
    return
  end
  local request = { command = 'dglsp.status', arguments = {} }
  client:request('workspace/executeCommand', request, function(err, result)
    if type(result) == 'table' then
      M.latest[client.id] = result
    end
    callback(type(result) == 'table' and result or M.latest[client.id], err)
  end)
end

local function fmt_ms(ms)
  return type(ms) == 'number' and ('%.0f ms'):format(ms) or '-'
end

--- The lines :DglspStatus shows.
function M.describe(client, status)
  local lines = { ('dglsp (client %d, %s)'):format(client.id, table.concat(client.config.cmd or {}, ' ')) }
  if not status then
    lines[#lines + 1] = 'state: unknown (this dglsp sends no status; update it)'
  else
    lines[#lines + 1] = ('state: %s%s'):format(
      status.state or '?',
      (status.message and status.message ~= '') and (' - ' .. status.message) or ''
    )
    lines[#lines + 1] = ('engine: %s, device: %s'):format(status.engine or '?', status.device or '?')
    lines[#lines + 1] = ('model: %s (%s)'):format(status.model or '?', status.modelPath or '?')
    lines[#lines + 1] = ('last latency: %s (server)'):format(fmt_ms(status.lastLatencyMs))
  end
  lines[#lines + 1] = ('last latency: %s (request to answer, in Neovim)'):format(
    fmt_ms(completion.last_latency_ms)
  )
  return lines
end

--- :DglspStatus
function M.show()
  local client = M.client()
  if not client then
    vim.notify('dglsp: no dglsp client is running (see :checkhealth dglsp)', vim.log.levels.WARN)
    return
  end
  M.fetch(client, function(status, err)
    local lines = M.describe(client, status)
    if err then
      lines[#lines + 1] = 'error: ' .. (err.message or vim.inspect(err))
    end
    vim.notify(table.concat(lines, '\n'), vim.log.levels.INFO)
  end)
end

--- A short text for the statusline: "dglsp: ready 120 ms", "dglsp: loading 40%", or "".
function M.statusline()
  local client = M.client()
  if not client then
    return ''
  end
  local status = M.latest[client.id] or {}
  local text = 'dglsp: ' .. (status.state or 'running')
  if status.state == 'loading' and type(status.percentage) == 'number' then
    text = text .. (' %d%%'):format(status.percentage)
  elseif completion.pending then
    text = 'dglsp: generating'
  elseif completion.last_latency_ms then
    text = text .. ' ' .. fmt_ms(completion.last_latency_ms)
  end
  return text
end

return M
