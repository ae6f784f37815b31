"""FANNO's hard filter, rule by rule, with cases that must pass and must fail; FANNO's substring bugs
are regression cases (its rule dropped them, this one keeps them)."""

import pytest
from fanno_reference import fanno_substring_reason

from fanno_spark.generate.instruction_rules import hard_filter_reason, is_request, letters_below_half

KEEP = [
    "Explain why the known limitations of binary search trees matter for balanced variants.",  # known ~ now
    "Write a Python function that returns the filename extension of a path.",  # filename ~ name
    "Describe how context managers release resources in Python.",  # context ~ text
    "How does snow form in clouds at temperatures below freezing?",  # snow ~ now
    "Summarize the causes of the French Revolution in three sentences.",
    "What is the sum of 17 and 25?",
    "Please compare a list and a tuple in Python.",
    "Is a whale a fish or a mammal?",
    "Calculate 15% of 240 and explain each step.",
    "Why do becoming and remaining members differ in cost?",  # becoming ~ coming
]


@pytest.mark.parametrize("instruction", KEEP)
def test_legitimate_instructions_are_kept(instruction):
    assert hard_filter_reason(instruction) is None, instruction


def test_fanno_substring_bugs_are_regression_cases():
    buggy = [k for k in KEEP if fanno_substring_reason(k)]
    assert len(buggy) >= 5  # FANNO's own rule would have dropped these
    assert all(hard_filter_reason(k) is None for k in buggy)


@pytest.mark.parametrize("instruction, reason", [
    ("", "empty"),
    ("   ", "empty"),
    ("Explique la Révolution française en détail.", "non_ascii"),
    ("List three sorting algorithms", "short_unterminated"),
    ("Sort these numbers", "short_unterminated"),
    ("Based on the passage, what caused the war?", "refers_to_source"),
    ("According to the author, why did prices rise?", "refers_to_source"),
    ("What does the paragraph say about rivers?", "refers_to_source"),
    ("Summarize the text in two sentences.", "refers_to_source"),
    ("Which method is mentioned for sorting arrays?", "refers_to_source"),
    ("Explain the argument referring to earlier studies.", "refers_to_source"),
    ("What are the current interest rates in Europe?", "time_sensitive"),
    ("Which films are coming to cinemas this week?", "time_sensitive"),
    ("What happened in the stock market today?", "time_sensitive"),
    ("What is the name of your neighbour's brother?", "asks_for_name"),
    ("Which of the named rivers is longest?", "asks_for_name"),  # FANNO's substring `name` caught "named"
    ("Name three French painters of the 19th century.", "asks_for_name"),
    ("Compute 3+4*2-(7/1)=?? ##### $$$ %%%.", "few_letters"),
    ("I'm ready to help. What is your task?", "not_a_request"),
    ("This is a question that has been asked many times.", "not_a_request"),
    ("The answer to this question is:", "not_a_request"),
    ("Sure, here is an interesting instruction for you.", "not_a_request"),
    ("Python lists are mutable sequences of objects.", "not_a_request"),
    ("Translate the following sentence into German.", "missing_input"),
    ("Classify each review listed below.", "missing_input"),
    ("Provide a detailed explanation of [target document description].", "placeholder"),
    ("Write a short story about [topic].", "placeholder"),
    ("When you use `os.path.unhexlify`, it returns a raw file object that can be", "unfinished"),
    ("List comprehensions are a powerful tool. They can make your code more readable,", "unfinished"),
    ("What does the author suggest about climate policy?", "refers_to_source"),
])
def test_each_rule_drops_with_its_own_reason(instruction, reason):
    assert hard_filter_reason(instruction) == reason


def test_ascii_rule_is_a_switch_and_input_waives_source_words():
    assert hard_filter_reason("Pourquoi la Révolution française a-t-elle commencé en 1789 ?", ascii_only=False) is None
    # the request rule knows English verbs only: a French imperative needs require_request=False
    assert hard_filter_reason("Explique la Révolution française en détail.", ascii_only=False) == "not_a_request"
    assert hard_filter_reason("Explique la Révolution française en détail.", ascii_only=False,
                              require_request=False) is None
    assert hard_filter_reason("Translate the following text into German:") == "refers_to_source"
    assert hard_filter_reason("Translate the following text into German:", has_input=True) is None
    # time words are never waived: an input does not make "today" answerable
    assert hard_filter_reason("What happened today in the following city:", has_input=True) == "time_sensitive"


def test_letter_ratio_ignores_spaces():
    short_words = "Is a b c d e f g h i j k a 1?"
    assert not letters_below_half(short_words)
    fanno_count = sum(c.isalpha() for c in short_words) < sum(not c.isalpha() for c in short_words)
    assert fanno_count  # FANNO counted the spaces and would have dropped it
    assert letters_below_half("x = 3 * (4 + 5) / 2 ** 7")


@pytest.mark.parametrize("instruction", [
    "Mention three ways to reduce household water use.",  # FANNO's `mentioned` never matched "mention"
    "What does the term 'ad hoc' refer to?",  # FANNO's substring `refer`: no source in sight
    "Write a paragraph about the causes of the First World War.",  # the seed prompt's own example
    "Given a list of integers, return the indices of the two numbers that add up to a target.",
    "Explain why many people check their phone as soon as they wake up.",  # "as soon as" is no date
    'Convert the passive sentence "The report was written by the intern" into the active voice.',  # quoted
    "Implement a function that reverses a linked list in place.",  # "Im..." is not "I'm"
    "Imagine you are a lighthouse keeper in 1890. Describe a stormy night.",
    "Identify whether the premise supports the hypothesis?",
    "Answer the following question about plate tectonics: why do volcanoes form at plate boundaries?",
    "Using the ingredients of a classic omelette, create a vegetarian variant.",
    "As a historian, analyze the causes of the fall of the Western Roman Empire.",
    "In no more than 100 words, describe how a bill becomes a law.",
    "Come up with three creative uses for an old umbrella.",
    "Suppose a garden is 12 meters long and 7 meters wide. Find the length of fence needed.",
    "Solve for x: 2x + 3 = 11.",  # FANNO counted the spaces as non-letters and dropped it
])
def test_requests_the_old_rules_dropped_are_kept(instruction):
    assert hard_filter_reason(instruction) is None, instruction


@pytest.mark.parametrize("text, want", [
    ("Describe the water cycle.", True), ("Kindly outline the steps of mitosis.", True),
    ("How do vaccines work", True), ("Could you list prime numbers below 20?", True),
    ("Hello! How can I help you today?", False), ("Here's a question for you:", False),
    ("Certainly! Here is the instruction.", False), ("The capital of France is Paris.", False),
    ("Your task is to write a function that merges two sorted lists.", True), ("What is your task?", False),
    ("The task is to this end unclear.", False),
])
def test_is_request(text, want):
    assert is_request(text) is want
