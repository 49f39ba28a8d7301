complete --keep-order --exclusive --command mqctl --arguments "(COMPLETE=fish mqctl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
