"""Facts the program, the sandbox, orderctl and the tests share, each stated once: the stack's output names,
the resource types the program declares, the actions the processor is granted. Plain constants, importing
nothing, so every side of the arrows (infra, sandbox, orderctl, tests) may import them."""
