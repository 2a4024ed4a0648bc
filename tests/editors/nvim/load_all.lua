-- nvim --headless --clean -l load_all.lua EDITORS_NVIM: loads every module of the plugin and the
-- lsp/ entry, checks setup() validates its options and can run twice; prints a JSON report.
local root = assert(arg[1], 'usage: load_all.lua EDITORS_NVIM')
vim.opt.runtimepath:prepend(root)
local report = { modules = {}, errors = {} }

for _, path in ipairs(vim.fn.glob(root .. '/lua/dglsp/*.lua', false, true)) do
  local name = 'dglsp.' .. vim.fn.fnamemodify(path, ':t:r')
  if name == 'dglsp.init' then
    name = 'dglsp'
  end
  local ok, mod = pcall(require, name)
  report.modules[name] = ok and type(mod) or ('error: ' .. tostring(mod))
end

local entry = dofile(root .. '/lsp/dglsp.lua')
report.entry_keys = vim.tbl_keys(entry)
table.sort(report.entry_keys)

local dglsp = require('dglsp')
report.setup_twice = pcall(dglsp.setup, {}) and pcall(dglsp.setup, { debounce_ms = 10 })
report.commands = vim.tbl_keys(vim.api.nvim_get_commands({}))
table.sort(report.commands)
local bad_options = {
  { debounce_ms = -1 },
  { render = 'other' },
  { keys = { accept = 1 } },
  { keys = { nope = 'x' } },
}
for _, bad in ipairs(bad_options) do
  local ok, err = pcall(dglsp.setup, bad)
  report.errors[#report.errors + 1] = ok and 'accepted' or tostring(err)
end
report.health = type(require('dglsp.health').check)
io.write(vim.json.encode(report))
