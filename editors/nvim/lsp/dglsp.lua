-- dglsp: inline code completions by infilling with DiffusionGemma (a block-diffusion model).
--
-- A `vim.lsp.config` entry (Neovim 0.11+), in the format of nvim-lspconfig's `lsp/` folder.
-- With this folder on the runtimepath, `vim.lsp.enable('dglsp')` is the whole setup.
-- Change any part with `vim.lsp.config('dglsp', { init_options = { steps = 24 } })`: tables merge.
-- Every setting is described in docs/usage.md#settings; the values below are dglsp's defaults.
-- `model`, `device` and `engine` are left to the command line's flags (`--model`, `--device`,
-- `--engine`) unless set here: `init_options` win over the flags.

local capabilities = {}
if vim.lsp.inline_completion then
  -- Neovim 0.12+ renders textDocument/inlineCompletion itself. Declaring it makes dglsp answer
  -- there and return an empty textDocument/completion, so the model runs once per keystroke.
  -- On 0.11 the declaration comes from require('dglsp').setup(), which renders the ghost text.
  capabilities.textDocument = { inlineCompletion = { dynamicRegistration = false } }
end

---@type vim.lsp.Config
return {
  cmd = { 'dglsp', '--stdio' },
  -- The languages dglsp has a grammar for; other filetypes work too (a window of lines as context).
  filetypes = {
    'python',
    'javascript',
    'javascriptreact',
    'typescript',
    'typescriptreact',
    'rust',
    'go',
    'c',
    'cpp',
    'java',
  },
  -- The root only names the workspace: dglsp also works on a file outside any project.
  root_markers = { '.git', 'pyproject.toml', 'package.json', 'Cargo.toml', 'go.mod', 'pom.xml' },
  capabilities = capabilities,
  init_options = {
    -- model = 'google/diffusiongemma-26B-A4B-it', -- Hugging Face id (already cached) or a directory
    -- device = 'auto', -- 'auto', 'cpu', 'cuda', 'cuda:N'
    -- engine = 'auto', -- 'auto' (one shared `dglsp serve`), 'inprocess', a socket path or a URL
    -- experts = 'auto', -- MoE layers: 'auto' (grouped_mm), 'eager', 'batched_mm'; same text, other speed
    -- dtype = 'auto', -- 'auto', 'bfloat16', 'float32' or 'fp8' (FP8 weights: about half the memory)
    strategy = 'prompt', -- 'prompt' or 'pinned': how the code after the cursor conditions the middle
    canvasPolicy = 'auto', -- 'auto' or 'fixed'
    canvasLength = 0, -- 0: chosen by canvasPolicy
    steps = 48, -- most denoising steps per completion
    entropyBound = 0.1, -- larger: more cells fixed per step, faster and rougher
    seed = 0,
    debounceMs = 150, -- the server's wait before an automatic inline completion
    contextBudget = 2048, -- prompt tokens for the code around the cursor
    languages = { '*' },
    windowLines = 60, -- lines of context outside any function
    drafts = false, -- dglsp/draft notifications: require('dglsp').setup() turns them on and renders them
    status = false, -- dglsp/status notifications: require('dglsp').setup() turns them on
    template = '', -- '': the model's own prompt template
  },
}
