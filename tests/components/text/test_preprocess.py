from socialml.components.text.preprocess import (
    class_tfidf_keywords, is_known_word, join_fields, keyword_tokens, normalise, word_forms,
)


def test_normalise_folds_case_yo_and_repeats_but_keeps_emoji_and_punctuation():
    assert normalise("Всё СУПЕР 👍👍") == "все супер 👍"
    assert normalise("все супер!!!") == "все супер!"
    assert normalise("ужасно 😡") == "ужасно 😡"
    assert normalise("  так   себе... ") == "так себе."
    assert normalise("❤️❤️") == "❤"


def test_keyword_tokens_are_lemmas_without_stop_words_or_typos():
    assert keyword_tokens("Победы и побед, всё супер 👍") == ["победа", "победа", "супер", "👍"]
    assert keyword_tokens("зарплатта") == []  # a typo is not a keyword


def test_class_tfidf_prefers_words_specific_to_a_class():
    keywords = class_tfidf_keywords([["коллектив", "хороший", "коллектив"], ["зарплата", "хороший"]], top_n=1)
    assert keywords == [["коллектив"], ["зарплата"]]


def test_join_fields_skips_empty_fields():
    assert join_fields(["a", "", None], ["b", "c", ""]) == ["a. b", "c", ""]


def test_word_forms_are_a_russian_words_inflections_and_a_misspelt_word_is_unknown():
    assert {"мешает", "мешают", "мешало", "мешать"} <= word_forms("мешать")
    assert {"проблем", "проблемы", "проблема"} <= word_forms("проблема") and "мешает" not in word_forms("проблема")
    assert word_forms("bug") == {"bug"}
    assert is_known_word("мешает") and not is_known_word("мешаает")
