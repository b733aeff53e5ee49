# ---- market-tx: the market's transaction types on the chain ----
# market/mkt_tx.c, mkt_state.c and mkt_book.c (globbed into glmarket) call
# chain/: the dependency the layout allows (market -> chain).  The pure
# clearing core in the same library still includes nothing of chain/.
target_link_libraries(glmarket PUBLIC glchain)
