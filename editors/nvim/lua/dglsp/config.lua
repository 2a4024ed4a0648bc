-- The plugin's options: defaults and validation. Server settings live in lsp/dglsp.lua.
local M = {}

M.defaults = {
  enabled = true, -- ghost text on at start (:DglspToggle flips it)
  debounce_ms = 150, -- wait after the last keystroke before asking the server
  drafts = true, -- render dglsp/draft notifications while the model denoises
  -- 'auto': the plugin renders ghost text; 'native': on Neovim 0.12+, vim.lsp.inline_completion
  -- shows the final item and the plugin only draws the drafts before it.
  render = 'auto',
  keys = { -- insert-mode keys, buffer-local where dglsp is attached; false leaves one unmapped
    accept = '<Tab>',
    accept_word = '<M-Right>',
    accept_line = '<M-Down>',
    dismiss = '<C-]>',
    next = '<M-]>',
    prev = '<M-[>',
  },
}

M.options = vim.deepcopy(M.defaults)
M.is_setup = false -- set by require('dglsp').setup()

local function check_key(name, value)
  vim.validate('keys.' .. name, value, function(v)
    return v == false or (type(v) == 'string' and v ~= '')
  end, 'a key (string) or false')
end

---@param opts table|nil
---@return table
function M.resolve(opts)
  opts = opts or {}
  vim.validate('opts', opts, 'table')
  local merged = vim.tbl_deep_extend('force', vim.deepcopy(M.defaults), opts)
  vim.validate('enabled', merged.enabled, 'boolean')
  vim.validate('debounce_ms', merged.debounce_ms, function(v)
    return type(v) == 'number' and v >= 0
  end, 'a number >= 0')
  vim.validate('drafts', merged.drafts, 'boolean')
  vim.validate('render', merged.render, function(v)
    return v == 'auto' or v == 'native'
  end, "'auto' or 'native'")
  vim.validate('keys', merged.keys, 'table')
  for name in pairs(merged.keys) do
    if M.defaults.keys[name] == nil then
      error(('dglsp: unknown key action keys.%s'):format(name), 0)
    end
    check_key(name, merged.keys[name])
  end
  return merged
end

--- Whether the final item is left to Neovim's own inline completion (0.12+).
function M.native()
  return M.options.render == 'native' and vim.lsp.inline_completion ~= nil
end

return M
