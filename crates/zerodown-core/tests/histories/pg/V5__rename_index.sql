ALTER INDEX orders_note_idx RENAME TO orders_note_search_idx;
