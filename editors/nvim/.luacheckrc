-- luacheck editors/nvim (Debian: lua-check); the tests run it when it is installed.
std = 'luajit'
globals = { 'vim' }
max_line_length = 110
