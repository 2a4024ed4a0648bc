-- dglsp for Neovim: ghost text from textDocument/inlineCompletion, live dglsp/draft previews,
-- keys to accept or cycle, :DglspToggle, :DglspStatus, :DglspContext and :checkhealth dglsp.
--
--   vim.lsp.enable('dglsp')      -- the server (lsp/dglsp.lua)
--   require('dglsp').setup({})   -- the ghost text (options: lua/dglsp/config.lua)
local accept = require('dglsp.accept')
local completion = require('dglsp.completion')
local config = require('dglsp.config')
local ghost = require('dglsp.ghost')
local status = require('dglsp.status')

local M = {}

local attached = {} ---@type table<integer, true> buffers with a dglsp client and our keys

--- What the plugin adds to the server's config: the inline completion capability (dglsp then
--- leaves textDocument/completion empty) and the settings the plugin relies on. nvim-lspconfig
--- users who do not go through vim.lsp.config merge these into their own setup.
function M.capabilities()
  return { textDocument = { inlineCompletion = { dynamicRegistration = false } } }
end

function M.init_options()
  -- The plugin debounces keystrokes itself; the server must not wait a second time.
  return { drafts = config.options.drafts, status = true, debounceMs = 0 }
end

local function set_highlights()
  vim.api.nvim_set_hl(0, 'DglspGhost', { link = 'Comment', default = true })
end

--- When setup() ran after the server started, its initializationOptions lack what we need.
---@param client vim.lsp.Client
local function update_server_settings(client)
  local want = M.init_options()
  local have = client.config.init_options or {}
  if have.drafts == want.drafts and have.status == want.status and have.debounceMs == want.debounceMs then
    return
  end
  if next(client.settings or {}) ~= nil then
    return -- the user's own settings layer: replacing it would drop their values
  end
  client:notify('workspace/didChangeConfiguration', { settings = { dglsp = want } })
end

local function attach(buf, client)
  if attached[buf] then
    return
  end
  attached[buf] = true
  update_server_settings(client)
  if config.native() then
    pcall(vim.lsp.inline_completion.enable, true, { bufnr = buf, client_id = client.id })
  end
  accept.map_keys(buf)
end

local function detach(buf)
  if not attached[buf] then
    return
  end
  attached[buf] = nil
  completion.stop(buf)
  accept.unmap_keys(buf)
end

local function create_autocmds()
  local group = vim.api.nvim_create_augroup('dglsp', { clear = true })
  local function on(events, callback)
    vim.api.nvim_create_autocmd(events, { group = group, callback = callback })
  end
  on('LspAttach', function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if client and client.name == 'dglsp' then
      attach(args.buf, client)
    end
  end)
  on('LspDetach', function(args)
    local client = vim.lsp.get_client_by_id(args.data.client_id)
    if client and client.name == 'dglsp' then
      detach(args.buf)
    end
  end)
  on('InsertEnter', function(args)
    if attached[args.buf] and config.options.enabled then
      completion.mark_seen(args.buf)
      completion.schedule(args.buf)
    end
  end)
  on({ 'TextChangedI', 'CursorMovedI' }, function(args)
    if attached[args.buf] and config.options.enabled then
      completion.sync(args.buf)
    end
  end)
  on({ 'InsertLeave', 'BufLeave' }, function(args)
    if attached[args.buf] then
      completion.stop(args.buf)
    end
  end)
  on('ColorScheme', set_highlights)
end

local function create_commands()
  vim.api.nvim_create_user_command('DglspToggle', function()
    M.toggle()
  end, { desc = 'dglsp: turn ghost text on or off' })
  vim.api.nvim_create_user_command('DglspStatus', status.show, { desc = 'dglsp: engine, model, latency' })
  vim.api.nvim_create_user_command('DglspContext', function()
    require('dglsp.context').show()
  end, { desc = 'dglsp: what would be sent to the model for the cursor' })
end

--- Sets the plugin up; safe to call again (options are replaced, nothing is doubled).
---@param opts table|nil see lua/dglsp/config.lua
function M.setup(opts)
  if vim.fn.has('nvim-0.11') ~= 1 then
    vim.notify('dglsp: Neovim 0.11 or newer is needed', vim.log.levels.ERROR)
    return
  end
  config.options = config.resolve(opts)
  config.is_setup = true
  vim.lsp.config('dglsp', { capabilities = M.capabilities(), init_options = M.init_options() })
  vim.lsp.handlers['dglsp/draft'] = completion.on_draft
  vim.lsp.handlers['dglsp/status'] = status.on_status
  set_highlights()
  create_autocmds()
  create_commands()
  for _, client in ipairs(vim.lsp.get_clients({ name = 'dglsp' })) do
    for buf in pairs(client.attached_buffers) do
      attach(buf, client)
    end
  end
end

--- Turns ghost text on or off (all buffers).
function M.toggle()
  config.options.enabled = not config.options.enabled
  if not config.options.enabled then
    completion.stop(vim.api.nvim_get_current_buf())
  end
  vim.notify('dglsp: ghost text ' .. (config.options.enabled and 'on' or 'off'), vim.log.levels.INFO)
end

--- Asks for a completion at the cursor now (no debounce).
function M.trigger()
  completion.request(vim.api.nvim_get_current_buf(), true)
end

--- Whether ghost text is shown in the current buffer.
function M.is_visible()
  return ghost.get(vim.api.nvim_get_current_buf()) ~= nil
end

-- For mappings of your own; each returns false when there was nothing to do.
M.accept = accept.actions.accept
M.accept_word = accept.actions.accept_word
M.accept_line = accept.actions.accept_line
M.dismiss = accept.actions.dismiss
M.next = accept.actions.next
M.prev = accept.actions.prev
M.statusline = status.statusline

return M
