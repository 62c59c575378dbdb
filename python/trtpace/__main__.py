from trtpace.cli import main

main()
