"""The currency tool of AutoGen's function-calling notebook, as a plain typed function.

agentteam reads its schema from the type hints (`Literal` gives the allowed
currencies, `Annotated` the descriptions) and runs each call in the sandbox.
"""

from typing import Annotated, Literal

CurrencySymbol = Literal["USD", "EUR"]


def exchange_rate(base_currency: CurrencySymbol, quote_currency: CurrencySymbol) -> float:
    if base_currency == quote_currency:
        return 1.0
    if base_currency == "USD" and quote_currency == "EUR":
        return 1 / 1.1
    if base_currency == "EUR" and quote_currency == "USD":
        return 1.1
    raise ValueError(f"Unknown currencies {base_currency}, {quote_currency}")


def currency_calculator(
    base_amount: Annotated[float, "Amount of currency in base_currency"],
    base_currency: Annotated[CurrencySymbol, "Base currency"] = "USD",
    quote_currency: Annotated[CurrencySymbol, "Quote currency"] = "EUR",
) -> str:
    """Currency exchange calculator."""
    quote_amount = exchange_rate(base_currency, quote_currency) * base_amount
    return f"{quote_amount} {quote_currency}"
