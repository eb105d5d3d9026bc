"""Knowledge entries: the questions, answers and documents a chatbot answers from."""
