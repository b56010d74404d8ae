from robustlens.tasks.cli import main

main()
