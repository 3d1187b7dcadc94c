"""Generate evalcov's synthetic sample data: a fictional bank's support-bot traffic and eval set.

Everything here is invented: "Northwind Bank", its users, its products and every query are written
from this file's own templates and vocabularies, with a fixed seed, so running the script twice
gives byte-identical files. See ``sample_data/README.md`` for what is planted in the data.

Usage::

    python sample_data/make_sample_data.py            # writes next to this file
    python sample_data/make_sample_data.py --out DIR  # writes into DIR
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from pathlib import Path

import yaml

SEED = 20260601
N_QUERIES = 30_000
N_USERS = 4_000
N_CONVERSATIONS = 200
START = date(2026, 6, 1)  # a Monday
N_WEEKS = 12
LAUNCH_TOPIC = "crypto_wallet"
FADING_TOPIC = "legacy_app_sunset"

# Share of ALL traffic per week (index 0 = week 1) for the two topics whose volume is scripted
# rather than drawn from the steady long-tail mix.
LAUNCH_SHARE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.02, 0.04, 0.06, 0.08, 0.09, 0.095, 0.10)
FADING_SHARE = (0.08, 0.08, 0.08, 0.06, 0.045, 0.03, 0.02, 0.01, 0.004, 0.001, 0.001, 0.001)

# Customers are mostly on US Eastern time (UTC-4 in summer); the diurnal profile is in local hours.
LOCAL_UTC_OFFSET_HOURS = -4
HOURLY_PROFILE = (
    0.30, 0.20, 0.12, 0.08, 0.08, 0.15, 0.35, 0.60, 0.85, 1.00, 1.05, 1.05,
    1.10, 1.00, 0.95, 0.90, 0.90, 0.95, 1.00, 1.05, 1.00, 0.85, 0.65, 0.45,
)  # fmt: skip
WEEKDAY_PROFILE = (1.15, 1.05, 1.0, 1.0, 1.0, 0.70, 0.60)  # Monday first
HOLIDAYS = {date(2026, 7, 3): 0.75, date(2026, 7, 4): 0.55, date(2026, 9, 7): 0.6}

STYLE_SHARES = {"template": 0.65, "informal": 0.23, "short": 0.12}
FOREIGN_RATE = 0.072  # of queries on topics that have foreign templates: ~5% of all traffic
LANG_SHARES = {"es": 0.45, "fr": 0.2, "de": 0.2, "pt": 0.15}
COMPOUND_RATE = 0.05
PII_RATE = 0.04
TYPO_RATE = 0.10
LOWERCASE_RATE = 0.25
RETRY_RATE = 0.02  # user sends the exact same text again a few seconds/minutes later
OTHER_OFFSET_RATE = 0.015  # rows logged by a gateway that writes local time instead of UTC
OTHER_CHANNEL = {"app": "web", "web": "app"}


# --------------------------------------------------------------------------------------------
# Slot vocabularies


def _amount(rng: random.Random) -> str:
    value = math.exp(rng.gauss(4.3, 1.1))
    if rng.random() < 0.3:
        return f"${value:,.2f}"
    return f"${max(5, round(value, -1 if value > 100 else 0)):,.0f}"


def _choice(options: Sequence[str]) -> Callable[[random.Random], str]:
    return lambda rng: rng.choice(options)


MERCHANTS = (
    "Target", "Walmart", "Amazon", "Costco", "Uber", "Lyft", "DoorDash", "Starbucks", "Shell",
    "Chevron", "Netflix", "Spotify", "Home Depot", "Best Buy", "Trader Joe's", "Kroger",
    "Safeway", "Walgreens", "CVS", "Airbnb", "Delta", "eBay", "Etsy", "the Apple store", "Steam",
    "a gas station", "the grocery store", "a restaurant", "my gym", "a hotel", "Whole Foods",
    "Chipotle", "IKEA", "Instacart", "an online store",
)  # fmt: skip
COUNTRIES = (
    "Mexico", "Canada", "the UK", "France", "Germany", "Spain", "Italy", "Japan", "India",
    "the Philippines", "Brazil", "Portugal", "Colombia", "Nigeria", "Poland", "Vietnam",
    "Australia", "Ireland", "Greece", "Thailand",
)  # fmt: skip
CITIES = (
    "Paris", "Cancun", "London", "Tokyo", "Lisbon", "Rome", "Toronto", "Berlin", "Madrid",
    "Bogota", "Dublin", "Athens", "Bangkok", "Mexico City", "Barcelona",
)  # fmt: skip
DEVICES = (
    "iPhone 15", "iPhone 13", "iPhone", "Pixel 8", "Samsung Galaxy S23", "Galaxy A54", "iPad",
    "Android phone", "Motorola phone", "OnePlus", "new phone",
)  # fmt: skip
WHEN = (
    "yesterday", "today", "last night", "this morning", "on Monday", "on Friday", "two days ago",
    "last week", "on the 3rd", "over the weekend", "an hour ago",
)  # fmt: skip
SLOTS: dict[str, Callable[[random.Random], str]] = {
    "amount": _amount,
    "merchant": _choice(MERCHANTS),
    "country": _choice(COUNTRIES),
    "city": _choice(CITIES),
    "device": _choice(DEVICES),
    "when": _choice(WHEN),
    "ndays": lambda rng: str(rng.choice((2, 3, 3, 5, 5, 7, 10))),
    "last4": lambda rng: f"{rng.randrange(10_000):04d}",
    "currency": _choice(("euros", "pesos", "pounds", "yen", "rupees", "reais", "Canadian dollars")),
    "browser": _choice(("Chrome", "Safari", "Firefox", "Edge")),
    "month": _choice(("May", "June", "July", "last month", "March", "April")),
    "payee": _choice(("my landlord", "my mom", "my roommate", "a friend", "my sister", "my son")),
    "brand": _choice(tuple(m for m in MERCHANTS if m[0].isupper())),
    "subscription": _choice(("Netflix", "Spotify", "Hulu", "my gym", "Adobe", "Amazon Prime")),
    "big_amount": lambda rng: (
        f"${rng.choice((2, 2.5, 3, 4, 5, 7.5, 8, 10, 12, 15, 25, 40)) * 1000:,.0f}"
    ),
    "fee": _choice(("$35", "$34", "$29", "$35", "$70", "$105")),
    "cash": lambda rng: f"${rng.choice((20, 40, 60, 100, 100, 200, 300, 400, 500))}",
}

# Only obviously fake values: example.* domains, the 555-01xx fiction range and well-known
# Luhn-valid test card numbers, so redaction has realistic formats to find.
PII_EMAILS = (
    "jane.doe", "john.smith", "maria.garcia", "alex.kim", "sam.patel", "chris.lee",
    "taylor.nguyen", "jordan.brown", "pat.oconnor", "lee.wong",
)  # fmt: skip
PII_CARDS = (
    "4111 1111 1111 1111", "4111111111111111", "5555 5555 5555 4444", "4012 8888 8888 1881",
    "4242-4242-4242-4242", "6011 1111 1111 1117", "3782 822463 10005",
)  # fmt: skip
PII_PHRASES = (
    "my email is {email}",
    "email me at {email}",
    "{email}",
    "you can reach me at {phone}",
    "my number is {phone}",
    "call me back at {phone}",
    "card number {card}",
    "my card is {card}",
    "account holder jane doe, {email}, {phone}",
)


def _pii_values(rng: random.Random) -> dict[str, str]:
    domain = rng.choice(("example.com", "example.com", "example.org", "example.net"))
    suffix = rng.choice(("", "", str(rng.randrange(1, 99))))
    area = rng.choice(("212", "312", "415", "617", "202", "305", "555"))
    line = rng.randrange(100, 200)
    phone = rng.choice((f"({area}) 555-{line:04d}", f"{area}-555-{line:04d}", f"555-{line:04d}"))
    return {
        "email": f"{rng.choice(PII_EMAILS)}{suffix}@{domain}",
        "phone": phone,
        "card": rng.choice(PII_CARDS),
    }


# --------------------------------------------------------------------------------------------
# Topics: (weight in the steady mix, templates, informal, short, foreign templates, answer)


@dataclass(frozen=True)
class Topic:
    """One kind of support request, with every way the generator can phrase it."""

    name: str
    weight: float
    templates: tuple[str, ...]
    informal: tuple[str, ...]
    short: tuple[str, ...]
    foreign: dict[str, tuple[str, ...]] = field(default_factory=dict)
    answer: str = ""


TOPICS: tuple[Topic, ...] = (
    Topic(
        "card_declined",
        17.0,
        (
            "Why was my card declined at {merchant}?",
            "My debit card keeps getting declined even though I have money in my account.",
            "I tried to pay {amount} at {merchant} {when} and the card was declined. Why?",
            "Card declined online but it works in stores, why?",
            "Why does my card get declined when I try to buy something over {amount}?",
            "My payment at {merchant} failed with 'card declined'. Is something wrong?",
            "Can you tell me why my transaction was declined {when}?",
            "My new card is being declined everywhere, did I forget to activate it?",
            "Declined at {merchant} again. I have {amount} in checking. Please fix this.",
            "Why did {merchant} decline my credit card when I'm nowhere near my limit?",
            "My card works for small purchases but anything over {amount} gets declined.",
            "I keep getting 'do not honor' when I use my card at {merchant}.",
            "Was my card blocked? It got declined {when} at {merchant}.",
            "Card got declined for a {amount} payment, but the money is there. Can you check?",
            "Is there a problem with my card? Two payments were declined {when}.",
        ),
        (
            "yo my card got declined at {merchant} wtf",
            "why does my card keep saying declined",
            "card not working at checkout again",
            "bro my debit card wont go thru",
            "declined AGAIN at {merchant} this is so embarrassing",
            "card keeps failing online help",
        ),
        ("card declined", "declined card", "card not working", "payment declined"),
        {
            "es": (
                "¿Por qué rechazaron mi tarjeta en {brand}?",
                "mi tarjeta de débito no pasa, tengo saldo",
            ),
            "fr": ("Pourquoi ma carte a été refusée chez {brand} ?",),
            "de": ("Warum wurde meine Karte bei {brand} abgelehnt?", "karte abgelehnt warum"),
            "pt": ("Por que meu cartão foi recusado no {brand}?",),
        },
        "Declines usually come from a daily spending limit, a fraud hold or an inactive card. "
        "You can check all three under Cards > Card status in the app.",
    ),
    Topic(
        "password_2fa_reset",
        15.0,
        (
            "How do I reset my password?",
            "I forgot my online banking password, how can I reset it?",
            "I'm not getting the 2FA code by text. How do I log in?",
            "How do I change my two-factor authentication phone number?",
            "The verification code never arrives on my {device}.",
            "I got locked out after too many password attempts. How do I unlock my account?",
            "How can I reset my password if I no longer have access to my old phone number?",
            "Can I use an authenticator app instead of SMS codes?",
            "My security code expired before I could type it in. What now?",
            "How do I change my password in the app?",
            "I reset my password but the new one doesn't work.",
            "The password reset email never came. I checked spam too.",
            "I don't remember my username or my password.",
            "How do I turn off two-step verification?",
            "I get a text code every single time I log in on my {device}, can I stop that?",
        ),
        (
            "forgot my password lol",
            "locked out of my account again help",
            "not getting the code to log in",
            "verification code never comes",
            "new phone and now 2fa wont work",
            "pw reset pls",
        ),
        (
            "reset password",
            "forgot password",
            "password reset",
            "2fa code not received",
            "locked out",
            "change password",
        ),
        {
            "es": (
                "Olvidé mi contraseña, ¿cómo la restablezco?",
                "no me llega el código de verificación",
            ),
            "fr": ("J'ai oublié mon mot de passe, comment le réinitialiser ?",),
            "de": ("Ich habe mein Passwort vergessen, wie setze ich es zurück?",),
            "pt": ("Esqueci minha senha, como faço para redefinir?",),
        },
        "You can reset your password from the sign-in screen with 'Forgot password'. "
        "We'll verify you with a code sent to the phone number on file.",
    ),
    Topic(
        "card_lost_stolen",
        11.0,
        (
            "I lost my debit card, how do I freeze it?",
            "My wallet was stolen {when}. How do I cancel my cards?",
            "How do I report a stolen credit card?",
            "I can't find my card anywhere. Can you lock it and send a new one?",
            "How long does it take to get a replacement card after reporting it lost?",
            "My card was stolen while traveling in {country}. What should I do?",
            "Someone took my purse {when} with my Northwind card in it.",
            "Can I get an emergency replacement card shipped overnight?",
            "I think I left my card at {merchant}. Can I lock it until I find it?",
            "My card was stolen and someone already used it at {merchant}.",
            "How do I temporarily freeze my debit card?",
            "I found my card after locking it. How do I unlock it?",
        ),
        (
            "lost my card pls block it",
            "somebody stole my wallet what do i do",
            "cant find my card anywhere",
            "card gone, freeze it",
            "left my card at a bar last night smh",
        ),
        ("lost card", "stolen card", "freeze card", "replace card", "lost debit card"),
        {
            "es": ("Perdí mi tarjeta, ¿cómo la bloqueo?", "me robaron la cartera con la tarjeta"),
            "fr": ("J'ai perdu ma carte bancaire, comment la bloquer ?",),
            "de": ("Meine Karte wurde gestohlen, bitte sperren.",),
            "pt": ("Perdi meu cartão, como bloquear?",),
        },
        "I've locked your card so nobody can use it. A replacement arrives in 5-7 business days; "
        "you can also request expedited shipping.",
    ),
    Topic(
        "talk_to_human",
        10.0,
        (
            "Can I speak to a real person?",
            "I want to talk to a customer service representative.",
            "How do I reach a human agent?",
            "What is the phone number for customer support?",
            "Is there a way to chat with a live agent instead of the bot?",
            "This isn't helping, please connect me to someone.",
            "Can someone from the bank call me back?",
            "What are your customer service hours?",
            "I'd rather talk to a person about this.",
            "How do I get through to the fraud department by phone?",
        ),
        (
            "agent",
            "human pls",
            "let me talk to a real person",
            "REPRESENTATIVE",
            "u are useless get me a human",
            "operator",
        ),
        (
            "talk to a human",
            "speak to agent",
            "customer service number",
            "representative",
            "live agent",
        ),
        {
            "es": ("Quiero hablar con una persona", "necesito un agente por favor"),
            "fr": ("Je veux parler à un conseiller.",),
            "de": ("Ich möchte mit einem Mitarbeiter sprechen.",),
            "pt": ("Quero falar com um atendente.",),
        },
        "I can connect you with an agent. Our team is available 7am-11pm ET; the current wait "
        "is about 6 minutes.",
    ),
    Topic(
        "transfer_limits",
        7.5,
        (
            "What is my daily transfer limit?",
            "Why can't I transfer more than {big_amount} at once?",
            "How do I increase my transfer limit to send {big_amount}?",
            "Is there a limit on how much I can move to my external account per day?",
            "I need to send {big_amount} for a down payment but it says it exceeds my limit.",
            "What are the daily and monthly limits for outgoing transfers?",
            "Can I raise my ACH transfer limit temporarily?",
            "My transfer of {big_amount} to my brokerage account was blocked for exceeding limits.",
            "Is the transfer limit different for wires and for transfers to other banks?",
        ),
        (
            "why cant i send more than {big_amount}",
            "transfer limit is too low",
            "need to move {big_amount} but it says limit reached",
            "how much can i transfer a day",
        ),
        ("transfer limit", "daily limit", "increase transfer limit", "ach limit"),
        {
            "es": ("¿Cuál es el límite diario de transferencias?",),
            "fr": ("Quel est le plafond de virement par jour ?",),
            "de": ("Wie hoch ist mein tägliches Überweisungslimit?",),
        },
        "Standard accounts can send up to $5,000 a day and $20,000 a month. You can request a "
        "temporary increase under Transfers > Limits.",
    ),
    Topic(
        "dispute_charge",
        5.0,
        (
            "How do I dispute a charge from {merchant}?",
            "I see a charge of {amount} that I didn't make. How do I report it?",
            "I was charged twice at {merchant} {when}. Can I get a refund?",
            "How long does a dispute take to resolve?",
            "{merchant} never delivered my order but charged me {amount}.",
            "There's a transaction from {country} I don't recognize.",
            "I cancelled my subscription but {subscription} still charged me.",
        ),
        (
            "got charged twice by {merchant}",
            "theres a charge i didnt make",
            "wtf is this {amount} charge",
            "how do i get my money back from {merchant}",
        ),
        ("dispute charge", "unknown charge", "double charged", "refund request"),
        {
            "es": ("Hay un cargo de {brand} que no reconozco.",),
            "fr": ("Je veux contester un prélèvement de {brand}.",),
            "de": ("Ich möchte eine Abbuchung von {brand} reklamieren.",),
        },
        "You can dispute a transaction by tapping it and choosing 'Report a problem'. We issue "
        "a provisional credit within 10 business days.",
    ),
    Topic(
        "app_login_errors",
        4.5,
        (
            "The app keeps crashing when I open it on my {device}.",
            "I get 'something went wrong' every time I try to log in.",
            "Face ID stopped working for the Northwind app.",
            "The website login page won't load in {browser}.",
            "The app freezes on the loading screen after the latest update.",
            "Why does the app log me out every few minutes?",
            "I get error code 1003 when signing in.",
        ),
        (
            "app keeps crashing",
            "app wont open on my {device}",
            "login page just spins forever",
            "face id broke after update",
        ),
        ("app crashing", "login error", "app not working", "cant log in"),
        {
            "es": ("La aplicación se cierra sola cuando la abro.",),
            "fr": ("L'application plante à l'ouverture.",),
            "de": ("Die App stürzt beim Öffnen ab.",),
            "pt": ("O aplicativo fecha sozinho quando eu abro.",),
        },
        "Please update to the latest app version and restart your phone. If it still fails, "
        "clearing the app cache usually fixes the login loop.",
    ),
    Topic(
        "direct_deposit_timing",
        4.0,
        (
            "When will my direct deposit hit my account?",
            "My paycheck hasn't shown up yet, is direct deposit delayed?",
            "Do you offer early direct deposit?",
            "Why is my direct deposit still pending?",
            "How do I set up direct deposit with my employer?",
            "Where do I find my routing and account number for direct deposit?",
        ),
        (
            "wheres my paycheck",
            "payday and no deposit yet??",
            "direct deposit not showing",
            "when does my check hit",
        ),
        ("direct deposit", "paycheck not deposited", "routing number", "early direct deposit"),
        {"es": ("¿Cuándo llega mi depósito directo?",)},
        "Direct deposits post as soon as your employer's payment arrives, usually by 6am on "
        "payday, and up to two days early with Early Pay.",
    ),
    Topic(
        "international_transfer_fees",
        3.0,
        (
            "How much does it cost to send money to {country}?",
            "What are the fees for an international wire transfer?",
            "What exchange rate do you use when I send {currency} abroad?",
            "Is there a fee to receive money from {country}?",
            "I want to send {amount} to my family in {country}. What will it cost?",
            "Why was I charged a foreign transaction fee in {city}?",
        ),
        (
            "how much to send money to {country}",
            "intl wire fee??",
            "why so many fees sending to {country}",
        ),
        ("international transfer fee", "wire fee", "exchange rate", "foreign transaction fee"),
        {
            "es": (
                "¿Cuánto cuesta enviar dinero a México?",
                "comisión por transferencia internacional",
            ),
            "fr": ("Quels sont les frais pour un virement international ?",),
            "de": ("Was kostet eine Auslandsüberweisung?",),
            "pt": ("Quanto custa mandar dinheiro para o Brasil?",),
        },
        "International wires cost $35 plus the exchange-rate margin, which we show before you "
        "confirm. Receiving an international wire costs $15.",
    ),
    Topic(
        "atm_problems",
        2.8,
        (
            "The ATM took my card and didn't give it back.",
            "I tried to withdraw {cash} but the ATM didn't dispense the cash.",
            "Where can I find a fee-free ATM near me?",
            "Why was I charged an ATM fee?",
            "The ATM said the transaction failed but my balance went down by {amount}.",
            "What's the maximum I can withdraw from an ATM per day?",
        ),
        (
            "yo my card got ate by the atm",
            "atm ate my card",
            "atm didnt give me my money",
            "atm charged me but no cash",
        ),
        ("atm fee", "atm kept card", "atm withdrawal limit", "atm near me"),
        {
            "es": ("El cajero se tragó mi tarjeta.", "el cajero no me dio el dinero"),
            "fr": ("Le distributeur a avalé ma carte.",),
            "de": ("Der Geldautomat hat meine Karte eingezogen.",),
        },
        "If an ATM kept your card, lock it in the app and order a replacement. Failed "
        "withdrawals are usually reversed within 3 business days.",
    ),
    Topic(
        "overdraft_fees",
        2.6,
        (
            "Why was I charged an overdraft fee?",
            "Can you refund the overdraft fee from {when}?",
            "How do I turn off overdraft protection?",
            "I got a {fee} overdraft fee even though my deposit was pending.",
            "How does overdraft protection work with my savings account?",
        ),
        ("overdraft fee again?? refund pls", "why did u charge me an overdraft fee"),
        ("overdraft fee", "overdraft protection", "refund overdraft fee"),
        {
            "es": ("¿Por qué me cobraron un cargo por sobregiro?",),
            "fr": ("Pourquoi ai-je des frais de découvert ?",),
        },
        "An overdraft fee applies when a payment posts while your balance is below zero. You "
        "can link savings for free overdraft protection.",
    ),
    Topic(
        "fraud_alert_text",
        2.4,
        (
            "I got a text saying there's suspicious activity on my account. Is it real?",
            "Did Northwind just text me about a {amount} purchase at {merchant}?",
            "I received a fraud alert but I did make that purchase. How do I confirm?",
            "Someone called pretending to be from the bank and asked for my code.",
            "Is this text message from you legit? It has a link to verify my account.",
        ),
        (
            "got a weird text from the bank is it a scam",
            "fraud alert text but it was me",
            "is this text legit",
        ),
        ("fraud alert", "suspicious text", "scam text", "fraud alert text"),
        {
            "es": ("Recibí un mensaje de alerta de fraude, ¿es real?",),
            "de": ("Ich habe eine SMS wegen Betrugsverdacht bekommen, ist die echt?",),
        },
        "Our fraud alerts come from short code 72166 and never include links or ask for codes. "
        "Reply YES if you made the purchase or NO to lock the card.",
    ),
    Topic(
        "check_deposit_hold",
        2.2,
        (
            "Why is there a hold on the check I deposited?",
            "When will my mobile check deposit be available?",
            "My check deposit was rejected in the app, why?",
            "How long do you hold a check for {amount}?",
            "Can I deposit a check written to both me and my spouse?",
        ),
        ("why is my check on hold", "mobile deposit keeps failing", "check still pending"),
        ("check hold", "mobile deposit", "cheque deposit", "deposit check"),
        {},
        "Most mobile check deposits are available the next business day; larger checks can be "
        "held up to 5 business days.",
    ),
    Topic(
        "mobile_wallet_setup",
        1.9,
        (
            "How do I add my card to Apple Pay?",
            "Can I use my Northwind debit card with Google Pay?",
            "Apple Pay says my card can't be added.",
            "How do I set up Samsung Pay with my credit card?",
            "My card was removed from my Apple Wallet after I got a new {device}.",
        ),
        ("apple pay not working with my card", "cant add card to google pay"),
        ("apple pay", "google pay", "add card to wallet"),
        {},
        "Open Cards > Add to wallet in our app, or add the card in your phone's wallet and "
        "verify it with the code we text you.",
    ),
    Topic(
        "statement_download",
        1.7,
        (
            "How do I download my bank statement for {month}?",
            "Where can I find my statements as PDFs?",
            "I need a statement from {month} for a visa application.",
            "Can I get statements older than 2 years?",
            "How do I export my transactions to a spreadsheet?",
        ),
        ("need my statement for {month}", "where r my statements"),
        ("bank statement", "download statement", "statement pdf"),
        {
            "es": ("¿Cómo descargo mi estado de cuenta?",),
            "fr": ("Comment télécharger mon relevé ?",),
        },
        "Statements are under Accounts > Documents; each month is a PDF. Seven years are kept.",
    ),
    Topic(
        "update_address",
        1.5,
        (
            "How do I update my mailing address?",
            "I moved, how do I change my address on file?",
            "Can I change my address online or do I need to visit a branch?",
            "I need to update my phone number and address.",
        ),
        ("moved how do i change my address", "new address"),
        ("change address", "update address", "change phone number"),
        {"es": ("Me mudé, ¿cómo cambio mi dirección?",)},
        "You can update your address in Profile > Personal details. We'll send a confirmation "
        "to both the old and new address.",
    ),
    Topic(
        "p2p_payments",
        1.4,
        (
            "How do I send money to a friend?",
            "I sent {amount} to {payee} but they haven't received it.",
            "Can I cancel a payment I sent to the wrong person?",
            "Is there a limit on sending money to friends with their phone number?",
        ),
        ("sent money to wrong person help", "how do i pay {payee}"),
        ("send money to friend", "pay someone"),
        {},
        "Use Pay & Transfer > Send to a person. Payments to enrolled users arrive within minutes "
        "and can't be cancelled once accepted.",
    ),
    Topic(
        "recurring_payments",
        1.2,
        (
            "How do I cancel a recurring payment to {subscription}?",
            "How can I set up automatic bill pay?",
            "Can I stop an automatic payment that's scheduled for tomorrow?",
            "My autopay to {payee} went out twice this month.",
        ),
        ("stop {subscription} from charging me every month", "cancel autopay"),
        ("cancel recurring payment", "autopay", "bill pay"),
        {},
        "Recurring payments are under Pay & Transfer > Scheduled. You can stop one up to a day "
        "before it's due.",
    ),
    Topic(
        "travel_notice",
        1.0,
        (
            "Do I need to set a travel notice before going to {country}?",
            "I'm traveling to {city} next week, will my card work there?",
            "How do I let you know I'll be abroad?",
            "Can I use my debit card in {country} without fees?",
            "I'm flying to {country} on Friday, please don't block my card.",
        ),
        ("going to {city} will my card work", "travel notice pls"),
        ("travel notice", "travel notification", "using card abroad"),
        {
            "es": ("Me voy de viaje a Europa, ¿funcionará mi tarjeta?",),
            "fr": ("Je pars en voyage, dois-je prévenir la banque ?",),
            "de": ("Ich reise nach Spanien, funktioniert meine Karte dort?",),
        },
        "You don't need a travel notice anymore: our fraud system recognizes travel. Just keep "
        "your phone number current so we can reach you.",
    ),
    Topic(
        "pin_change",
        1.0,
        (
            "How do I change my card PIN?",
            "I forgot my PIN, how do I reset it?",
            "Can I set a new PIN at the ATM?",
        ),
        ("forgot my pin", "new pin pls"),
        ("change pin", "forgot pin", "reset pin"),
        {},
        "You can view or change your PIN under Cards > PIN, or at any Northwind ATM.",
    ),
    Topic(
        "interest_rates",
        0.9,
        (
            "What is the interest rate on your savings account?",
            "Did the APY on my savings go down?",
            "What interest rate do you pay on CDs?",
            "How is interest calculated on my savings?",
        ),
        ("whats the savings rate now", "apy went down??"),
        ("savings interest rate", "apy", "cd rates"),
        {},
        "High-Yield Savings currently earns 3.80% APY; 12-month CDs earn 4.10% APY.",
    ),
    Topic(
        "account_fees",
        0.85,
        (
            "Why was I charged a monthly maintenance fee?",
            "How do I avoid the monthly service fee on checking?",
            "What fees does the checking account have?",
        ),
        ("why is there a monthly fee",),
        ("monthly fee", "maintenance fee", "account fees"),
        {},
        "The $12 monthly fee is waived with $500 in direct deposits or a $1,500 daily balance.",
    ),
    Topic(
        "open_savings_account",
        0.8,
        (
            "How do I open a savings account?",
            "Can I open a second savings account for my emergency fund?",
            "What do I need to open a high-yield savings account?",
            "Is there a minimum deposit to open savings?",
        ),
        ("want to open a savings acct",),
        ("open savings account", "new savings account"),
        {},
        "You can open a savings account in the app under Accounts > Open new account; it takes "
        "about 3 minutes and there's no minimum deposit.",
    ),
    Topic(
        "credit_limit_increase",
        0.7,
        (
            "How do I request a credit limit increase?",
            "Can I get a higher limit on my credit card?",
            "Will asking for a credit limit increase hurt my credit score?",
        ),
        ("need a higher credit limit",),
        ("credit limit increase", "raise credit limit"),
        {},
        "Request an increase under Cards > Credit limit. We use a soft pull, so your score is "
        "not affected.",
    ),
    Topic(
        "loan_application_status",
        0.6,
        (
            "What's the status of my personal loan application?",
            "I applied for a loan {when}, when will I hear back?",
            "Why was my loan application denied?",
        ),
        ("any update on my loan",),
        ("loan status", "loan application"),
        {},
        "Most personal loan decisions take 1-2 business days; you'll get an email and a message "
        "in the app.",
    ),
    Topic(
        "close_account",
        0.55,
        (
            "How do I close my checking account?",
            "I want to close my account and transfer the balance.",
            "Is there a fee to close my savings account?",
        ),
        ("close my account",),
        ("close account", "cancel account"),
        {"es": ("Quiero cerrar mi cuenta.",), "de": ("Wie kann ich mein Konto kündigen?",)},
        "We're sorry to see you go. Move your balance out first, then choose Profile > Close "
        "account, or call us.",
    ),
    Topic(
        "budgeting_feature",
        0.5,
        (
            "How do I use the budgeting tool in the app?",
            "Can I set spending categories and alerts?",
            "Why is my {brand} purchase in the wrong spending category?",
        ),
        ("how do budgets work in the app",),
        ("budget", "spending insights"),
        {},
        "Open Insights > Budgets to set a monthly budget per category; you'll get an alert at "
        "80% and 100%.",
    ),
    Topic(
        "mortgage_rates",
        0.4,
        (
            "What are your current mortgage rates?",
            "What's the rate on a 30-year fixed mortgage?",
            "Can I refinance my mortgage with Northwind?",
        ),
        ("mortgage rates rn?",),
        ("mortgage rates", "refinance"),
        {},
        "Rates change daily; today's 30-year fixed starts at 6.25% APR. A loan officer can give "
        "you a personal quote.",
    ),
    Topic(
        "joint_account",
        0.35,
        (
            "How do I add my partner to my checking account?",
            "Can we open a joint account online?",
            "How do I remove someone from a joint account?",
        ),
        ("add my wife to my account",),
        ("joint account",),
        {},
        "Both owners can open a joint account in the app; to add someone to an existing account "
        "they need to verify their identity.",
    ),
    Topic(
        "business_account",
        0.3,
        (
            "Do you offer business checking accounts?",
            "What documents do I need to open an account for my LLC?",
            "Can I have a personal and a business account under one login?",
        ),
        ("need an account for my small business",),
        ("business account", "business checking"),
        {},
        "Business Checking needs your EIN and formation documents; you can link it to your "
        "personal login.",
    ),
    Topic(
        "tax_documents",
        0.25,
        (
            "Where do I find my 1099-INT?",
            "When will my tax forms be available?",
            "I need my mortgage interest statement for taxes.",
        ),
        ("where is my 1099",),
        ("tax forms", "1099"),
        {},
        "Tax forms are posted under Accounts > Documents > Tax by January 31.",
    ),
    Topic(
        LAUNCH_TOPIC,
        0.0,
        (
            "How do I buy bitcoin with the new Northwind Crypto Wallet?",
            "What are the fees for buying crypto in the app?",
            "Can I send ETH from my Northwind Crypto Wallet to an external wallet?",
            "Is crypto in the Northwind wallet FDIC insured?",
            "How do I turn on the Crypto Wallet? I don't see it in the app.",
            "Why can't I sell my bitcoin right now?",
            "Can I move {amount} from checking into the crypto wallet?",
            "Which coins can I trade in the Crypto Wallet?",
            "How are crypto gains reported for taxes?",
        ),
        (
            "how do i buy btc in the app",
            "crypto wallet not showing for me",
            "can i get eth on northwind now",
            "is the crypto thing safe",
            "yo how do i cash out my crypto",
        ),
        ("crypto wallet", "buy bitcoin", "crypto fees", "sell crypto"),
        {
            "es": ("¿Cómo compro bitcoin en la app?",),
            "fr": ("Comment acheter du bitcoin dans l'application ?",),
            "de": ("Wie kaufe ich Bitcoin in der App?",),
            "pt": ("Como compro bitcoin no aplicativo?",),
        },
        "The Crypto Wallet is rolling out to all customers. Open Invest > Crypto to buy bitcoin "
        "or ether from $1; there's a 1.5% spread and crypto is not FDIC insured.",
    ),
    Topic(
        FADING_TOPIC,
        0.0,
        (
            "The old Northwind app says it will stop working. How do I move to the new app?",
            "Do I need to re-enroll when I switch to the new Northwind app?",
            "Will my payees and scheduled payments carry over to the new app?",
            "When is the classic app being shut down?",
            "I downloaded the new app but it says my account isn't migrated yet.",
            "Why do I have to download a new app? The old one worked fine.",
            "Does the new app work on my {device}?",
        ),
        (
            "why do i need the new app",
            "old app says its going away??",
            "cant log into new app with my old login",
            "do i have to switch apps",
        ),
        ("new app", "migrate to new app", "classic app shutting down"),
        {
            "es": ("La aplicación vieja dice que dejará de funcionar, ¿qué hago?",),
            "de": ("Die alte App wird abgeschaltet, wie wechsle ich zur neuen?",),
        },
        "The classic app retires on August 1. Download 'Northwind Mobile', sign in with your "
        "usual username, and your payees move over automatically.",
    ),
)

TOPIC_BY_NAME = {topic.name: topic for topic in TOPICS}
STEADY_TOPICS = tuple(topic for topic in TOPICS if topic.weight > 0)


# --------------------------------------------------------------------------------------------
# Eval set: written by hand in a cleaner "test-writer" voice, covering only the early topics and
# skipping some of them on purpose (talk_to_human, direct_deposit_timing, check_deposit_hold,
# mobile_wallet_setup, p2p_payments, budgeting_feature, joint_account, tax_documents).

EVAL_PROMPTS: dict[str, tuple[str, ...]] = {
    "card_declined": (
        "My debit card was declined at the grocery store but I have enough money. Why?",
        "Why would an online purchase be declined when my card works in person?",
        "My card was declined for a $900 purchase. Is there a spending limit?",
        "I just received a replacement card and it is declined everywhere.",
        "What are the common reasons a card payment gets declined?",
        "My card was declined at a gas station pump but worked inside the store.",
        "Can a fraud hold cause my card to be declined?",
        "How do I check whether my card is blocked?",
        "My recurring subscription payment was declined. What should I do?",
    ),
    "password_2fa_reset": (
        "How can I reset my online banking password?",
        "I forgot my username and password. How do I recover my account?",
        "I am not receiving the SMS verification code. What can I do?",
        "How do I update the phone number used for two-factor authentication?",
        "My account is locked after several failed login attempts.",
        "Can I use an authenticator app for two-step verification?",
        "I changed phones and can no longer receive login codes.",
        "How often do I need to change my password?",
        "What are the password requirements for online banking?",
        "The password reset link in the email has expired.",
    ),
    "card_lost_stolen": (
        "I lost my debit card. How do I lock it?",
        "My credit card was stolen. What should I do first?",
        "How long does a replacement card take to arrive?",
        "Can I get a replacement card expedited?",
        "I found my card after reporting it lost. Can I unlock it?",
        "My wallet was stolen abroad. How do I cancel my cards?",
        "Will my card number change when I report it stolen?",
        "How do I temporarily freeze my card?",
        "Someone made purchases with my stolen card. Will I be refunded?",
    ),
    "transfer_limits": (
        "What is the daily limit for transfers to external accounts?",
        "How can I increase my transfer limit?",
        "Why was my transfer blocked for exceeding the limit?",
        "Is there a monthly limit on outgoing ACH transfers?",
        "Can I temporarily raise my limit to make a large payment?",
        "Are transfer limits different for wire transfers and ACH?",
        "What is the maximum amount I can transfer between my own accounts?",
        "When does my daily transfer limit reset?",
    ),
    "dispute_charge": (
        "How do I dispute a credit card charge?",
        "I see a transaction I did not make. How do I report it?",
        "I was charged twice for the same purchase. How do I get a refund?",
        "A merchant never delivered my order. Can I dispute the charge?",
        "How long does a dispute investigation take?",
        "Will I get a provisional credit while my dispute is reviewed?",
        "I cancelled a subscription but I am still being charged.",
        "Can I dispute a charge that is still pending?",
        "What information do I need to file a dispute?",
    ),
    "app_login_errors": (
        "The mobile app crashes every time I open it.",
        "I get an error message when I try to log in to the app.",
        "Face ID login is not working in the banking app.",
        "The website login page does not load in my browser.",
        "The app is stuck on the loading screen after an update.",
        "Why does the app keep logging me out?",
        "Which phone operating systems does the app support?",
        "How do I fix error code 1003 when signing in?",
    ),
    "international_transfer_fees": (
        "What is the fee for sending an international wire transfer?",
        "What exchange rate is applied to international transfers?",
        "How much does it cost to send money to Mexico?",
        "Is there a fee for receiving an international wire?",
        "Why was I charged a foreign transaction fee?",
        "How long does an international transfer take to arrive?",
        "Can I send money abroad in the recipient's local currency?",
    ),
    "atm_problems": (
        "The ATM kept my card. What should I do?",
        "The ATM did not dispense cash but my account was debited.",
        "Where can I withdraw cash without a fee?",
        "What is my daily ATM withdrawal limit?",
        "Why was I charged a fee at an ATM?",
        "Can I deposit cash at an ATM?",
        "The ATM gave me less money than I requested.",
    ),
    "overdraft_fees": (
        "Why was I charged an overdraft fee?",
        "Can you refund my overdraft fee?",
        "How do I turn off overdraft coverage?",
        "How does overdraft protection from savings work?",
        "How much is the overdraft fee?",
        "I was charged an overdraft fee while a deposit was pending.",
        "How many overdraft fees can be charged in one day?",
    ),
    "fraud_alert_text": (
        "I received a text about suspicious activity. Is it really from the bank?",
        "How do I confirm a purchase flagged by a fraud alert?",
        "Someone called claiming to be the bank and asked for my verification code.",
        "What number do your fraud alert texts come from?",
        "I replied to a fraud alert by mistake. What happens now?",
        "How do I report a phishing text message?",
    ),
    "statement_download": (
        "How do I download a PDF of my monthly statement?",
        "Where can I find statements older than one year?",
        "Can I export my transactions to a CSV file?",
        "I need a stamped bank statement for a visa application.",
        "How do I switch to paperless statements?",
        "When is my monthly statement available?",
    ),
    "update_address": (
        "How do I change my mailing address?",
        "I moved. How do I update my address on my account?",
        "Can I update my phone number online?",
        "Do I need to visit a branch to change my address?",
        "How do I update my email address?",
        "Will my new card be sent to my new address?",
    ),
    "travel_notice": (
        "Do I need to notify the bank before traveling abroad?",
        "Will my debit card work in Japan?",
        "How do I set a travel notice on my card?",
        "Are there fees for using my card in Europe?",
        "My card was blocked while traveling. How do I unblock it?",
    ),
    "interest_rates": (
        "What is the current APY on the high-yield savings account?",
        "Why did my savings interest rate decrease?",
        "What rates do you offer on certificates of deposit?",
        "How is interest calculated and paid on savings?",
        "Does my checking account earn interest?",
    ),
    "open_savings_account": (
        "How do I open a savings account?",
        "Is there a minimum deposit to open a savings account?",
        "Can I open more than one savings account?",
        "What documents do I need to open a new account?",
        "Can I open a savings account for my child?",
        "How long does it take to open an account online?",
    ),
    "credit_limit_increase": (
        "How do I request a higher credit limit?",
        "Does a credit limit increase request affect my credit score?",
        "How often can I ask for a credit limit increase?",
        "Why was my credit limit increase request denied?",
        "Can my credit limit be increased automatically?",
    ),
    "loan_application_status": (
        "How can I check the status of my loan application?",
        "How long does a personal loan decision take?",
        "Why was my loan application declined?",
        "What documents are needed to complete my loan application?",
        "When will the loan funds be deposited?",
    ),
    "mortgage_rates": (
        "What are today's mortgage rates?",
        "What is the rate for a 15-year fixed mortgage?",
        "Can I refinance my existing mortgage with you?",
        "How do I lock in a mortgage rate?",
        "Do you offer adjustable-rate mortgages?",
        "What credit score do I need for your best mortgage rate?",
    ),
    "close_account": (
        "How do I close my checking account?",
        "Is there a fee for closing an account?",
        "What happens to my remaining balance when I close my account?",
        "Can I close my account online?",
        "How do I close a joint account?",
    ),
    "business_account": (
        "Do you offer checking accounts for small businesses?",
        "What documents are required to open a business account?",
        "Can I manage personal and business accounts with one login?",
        "What are the fees for a business checking account?",
    ),
    "pin_change": (
        "How do I change my debit card PIN?",
        "I forgot my card PIN. How can I reset it?",
        "Can I choose my own PIN for a new card?",
        "How do I view my PIN in the app?",
    ),
    "account_fees": (
        "Why was I charged a monthly maintenance fee?",
        "How can I avoid the monthly fee on my checking account?",
        "What fees apply to a standard checking account?",
        "Can you waive the monthly service fee?",
    ),
    FADING_TOPIC: (
        "The classic app says it is being retired. How do I move to the new app?",
        "Do I need to re-register when switching to the new mobile app?",
        "Will my saved payees transfer to the new app?",
        "When will the classic app stop working?",
        "The new app says my account has not been migrated yet.",
        "Is my scheduled bill pay kept when I switch to the new app?",
    ),
    "recurring_payments": (
        "How do I cancel a recurring payment?",
        "How do I set up automatic bill payments?",
        "Can I stop an automatic payment scheduled for tomorrow?",
    ),
}

# Eval pass rate by topic: high overall, weak on some high-traffic topics, so the
# traffic-weighted pass rate is lower than the plain one.
EVAL_FAIL_RATE = {
    "card_declined": 0.34,
    "dispute_charge": 0.34,
    "international_transfer_fees": 0.29,
    "transfer_limits": 0.13,
}
DEFAULT_FAIL_RATE = 0.07

# Outcomes of each request in the log (see the README's "Outcomes" section). A row *failed*
# when the request errored or the user gave it a thumbs-down, evalcov's default definition, and
# every topic fails with a planted probability: three topics carry the structure a risk view must
# find, every other topic fails at the base rate.
BASE_FAILURE_RATE = 0.04
PLANTED_FAILURE_RATE = {
    LAUNCH_TOPIC: 0.35,  # untested and failing: the assistant knows nothing of the new product
    "international_transfer_fees": 0.30,  # tested and failing: a model problem, not a gap
    "talk_to_human": 0.01,  # untested, and users are happy: the hand-off to an agent works
}
ERROR_SHARE_OF_FAILURES = 0.5  # the rest are answers that ran fine and got a thumbs-down
TIMEOUT_SHARE_OF_ERRORS = 0.4  # errors that hit the gateway's timeout rather than failing fast
TIMEOUT_S = 30.0
FEEDBACK_RATE_OK = 0.10  # share of good answers a user rates (thumbs-up); most never do
FEEDBACK_RATE_ERROR = 0.25  # share of errored requests the user also thumbs down
MEDIAN_LATENCY_S = 2.2
# Slower topics: the assistant looks things up (fee tables, the wallet's docs) before answering.
LATENCY_FACTOR = {LAUNCH_TOPIC: 1.6, "international_transfer_fees": 1.4, "talk_to_human": 0.6}
USD_PER_SECOND = 0.0004  # inference cost grows with the tokens generated, i.e. with latency
USD_PER_REQUEST = 0.0002

SYSTEM_PROMPT = (
    "You are Nova, the virtual assistant of Northwind Bank. Answer questions about Northwind "
    "accounts, cards and the app in two or three sentences. Never ask for full card numbers, "
    "passwords or one-time codes. Offer a human agent when you cannot help."
)
EVAL_ASSERT_RUBRIC = (
    "Answers the customer's question about {topic} accurately and safely, without asking for "
    "passwords, one-time codes or full card numbers."
)


# --------------------------------------------------------------------------------------------
# Text generation


def _fill(template: str, rng: random.Random) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SLOTS[m.group(1)](rng), template)


KEYBOARD_NEIGHBOURS = {
    "a": "qsz", "b": "vgn", "c": "xdv", "d": "sfe", "e": "wrd", "f": "dgr", "g": "fht",
    "h": "gjy", "i": "uok", "j": "hku", "k": "jli", "l": "kop", "m": "nj", "n": "bmh",
    "o": "ipl", "p": "ol", "q": "wa", "r": "etf", "s": "adw", "t": "ryg", "u": "yij",
    "v": "cbf", "w": "qes", "x": "zsc", "y": "tuh", "z": "xa",
}  # fmt: skip


def _typo(text: str, rng: random.Random) -> str:
    """Apply one or two keyboard-style edits (swap, drop, double, neighbour key) to long words."""
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not candidates:
        return text
    for i in rng.sample(candidates, k=min(len(candidates), rng.choice((1, 1, 1, 2)))):
        word = words[i]
        pos = rng.randrange(1, len(word) - 1)
        kind = rng.random()
        if kind < 0.35:
            word = word[:pos] + word[pos + 1] + word[pos] + word[pos + 2 :]
        elif kind < 0.6:
            word = word[:pos] + word[pos + 1 :]
        elif kind < 0.75:
            word = word[:pos] + word[pos] + word[pos:]
        else:
            neighbours = KEYBOARD_NEIGHBOURS.get(word[pos].lower(), word[pos])
            word = word[:pos] + rng.choice(neighbours) + word[pos + 1 :]
        words[i] = word
    return " ".join(words)


OPENERS = ("Hi, ", "Hello, ", "Hey, ", "Hi there. ", "Quick question: ", "Good morning, ")
CLOSERS = (" Thanks!", " Thank you.", " Please help.", " Thanks in advance.", " ASAP please.")
INFORMAL_TAILS = (" pls", " ??", " !!", " help", " asap", " smh", " plz")


def _decorate(text: str, style: str, rng: random.Random) -> str:
    """Add the greetings, sign-offs and filler that real users wrap around the same question."""
    if style == "informal":
        return text + rng.choice(INFORMAL_TAILS) if rng.random() < 0.2 else text
    if rng.random() < 0.15:
        opener = rng.choice(OPENERS)
        first = text if text.startswith(("I ", "I'", "Northwind")) else text[0].lower() + text[1:]
        text = opener + (first[0].upper() + first[1:] if opener.endswith(". ") else first)
    if rng.random() < 0.12:
        text += rng.choice(CLOSERS)
    return text


def _casual(text: str) -> str:
    return text.lower().rstrip(".?!")


def _join_compound(first: str, second: str, rng: random.Random) -> str:
    connector = rng.choice((" and also ", ". also ", " + ", " btw ", "? and ", ". Also, "))
    first = first.rstrip(".?!")
    if not second.startswith("I "):
        second = second[0].lower() + second[1:]
    return first + connector + second


def _add_pii(text: str, rng: random.Random) -> str:
    phrase = rng.choice(PII_PHRASES).format(**_pii_values(rng))
    if rng.random() < 0.2:
        return f"{phrase} - {text}"
    return f"{text} {phrase}" if text.endswith((".", "?", "!")) else f"{text}, {phrase}"


def _english_text(topic: Topic, rng: random.Random, compound_with: Topic | None) -> str:
    style = rng.choices(list(STYLE_SHARES), weights=list(STYLE_SHARES.values()))[0]
    if style == "short":
        return rng.choice(topic.short)
    pool = topic.templates if style == "template" else topic.informal
    text = _decorate(_fill(rng.choice(pool), rng), style, rng)
    if compound_with is not None:
        text = _join_compound(text, _fill(rng.choice(compound_with.templates), rng), rng)
    if rng.random() < PII_RATE:
        text = _add_pii(text, rng)
    if style == "template" and rng.random() < LOWERCASE_RATE:
        text = _casual(text)
    if rng.random() < TYPO_RATE:
        text = _typo(text, rng)
    return text


def _foreign_text(topic: Topic, lang: str, rng: random.Random) -> str:
    text = _fill(rng.choice(topic.foreign[lang]), rng)
    if rng.random() < 0.3:
        text = _casual(text)
    if rng.random() < TYPO_RATE / 2:
        text = _typo(text, rng)
    return text


# --------------------------------------------------------------------------------------------
# Traffic


@dataclass
class _User:
    user_id: str
    lang: str
    channel: str
    activity: float


def _make_users(rng: random.Random) -> dict[str, tuple[list[_User], list[float]]]:
    """Users per language with cumulative activity weights.

    Activity is log-normal (heavy-tailed), so a few users ask a lot and most ask once or twice.
    """
    pools: dict[str, tuple[list[_User], list[float]]] = {}
    seen: set[str] = set()
    n_foreign = {"es": 190, "fr": 70, "de": 70, "pt": 50}
    n_per_lang = {"en": N_USERS - sum(n_foreign.values()), **n_foreign}
    for lang, count in n_per_lang.items():
        users = []
        while len(users) < count:
            user_id = f"u{rng.getrandbits(28):07x}"
            if user_id in seen:
                continue
            seen.add(user_id)
            channel = "app" if rng.random() < 0.65 else "web"
            activity = min(rng.lognormvariate(0.0, 1.3), 40.0)  # cap: no single user dominates
            users.append(_User(user_id, lang, channel, activity))
        pools[lang] = (users, list(accumulate(user.activity for user in users)))
    return pools


def _day_weights() -> list[float]:
    weights = []
    for offset in range(N_WEEKS * 7):
        day = START + timedelta(days=offset)
        growth = 1.0 + 0.08 * offset / (N_WEEKS * 7)
        weights.append(WEEKDAY_PROFILE[day.weekday()] * HOLIDAYS.get(day, 1.0) * growth)
    return weights


def _topic_weights(day: date) -> list[float]:
    """Topic probabilities on one day: the steady long-tail mix plus the scripted drift."""
    week = (day - START).days // 7
    summer = min(1.0, max(0.0, (day - date(2026, 6, 20)).days / 40))  # 0 in June -> 1 by August
    steady = []
    for topic in STEADY_TOPICS:
        weight = topic.weight
        if topic.name == "travel_notice":
            weight *= 1 + 1.5 * summer
        elif topic.name == "international_transfer_fees":
            weight *= 1 + 0.4 * summer
        elif topic.name == "direct_deposit_timing" and day.day in (1, 2, 15, 16):
            weight *= 2.5
        steady.append(weight)
    scripted = LAUNCH_SHARE[week] + FADING_SHARE[week]
    total = sum(steady)
    return [(1 - scripted) * w / total for w in steady] + [LAUNCH_SHARE[week], FADING_SHARE[week]]


def _timestamp(day: date, rng: random.Random) -> datetime:
    local_hour = rng.choices(range(24), weights=HOURLY_PROFILE)[0]
    utc_hour = (local_hour - LOCAL_UTC_OFFSET_HOURS) % 24
    return datetime(day.year, day.month, day.day, utc_hour, tzinfo=timezone.utc) + timedelta(
        seconds=rng.randrange(3600)
    )


def _format_timestamp(instant: datetime, rng: random.Random) -> str:
    """ISO-8601; most rows in UTC, a few written by a gateway in +02:00 or US Eastern time."""
    if rng.random() < OTHER_OFFSET_RATE:
        hours = rng.choice((2, 2, -4))
        return instant.astimezone(timezone(timedelta(hours=hours))).isoformat()
    return instant.isoformat()


def make_traffic(rng: random.Random) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Simulate the support log.

    Parameters
    ----------
    rng : random.Random
        Source of all randomness, so a fixed seed gives the same log.

    Returns
    -------
    rows : list of dict
        Log rows (``query_id``, ``timestamp``, ``user_id``, ``text``, ``channel``, ``lang``),
        sorted by time.
    truth : list of dict
        ``query_id`` and the ground-truth ``topic`` of every row, in the same order.
    """
    users = _make_users(rng)
    days = [START + timedelta(days=i) for i in range(N_WEEKS * 7)]
    topic_order = [*STEADY_TOPICS, TOPIC_BY_NAME[LAUNCH_TOPIC], TOPIC_BY_NAME[FADING_TOPIC]]
    weights_by_day = {day: _topic_weights(day) for day in days}
    cum_by_day = {day: list(accumulate(weights)) for day, weights in weights_by_day.items()}
    n_retries = round(N_QUERIES * RETRY_RATE)
    events = []
    for day in rng.choices(days, weights=_day_weights(), k=N_QUERIES - n_retries):
        weights = weights_by_day[day]
        topic = rng.choices(topic_order, cum_weights=cum_by_day[day])[0]
        lang = "en"
        if topic.foreign and rng.random() < FOREIGN_RATE:
            available = [code for code in LANG_SHARES if code in topic.foreign]
            lang = rng.choices(available, weights=[LANG_SHARES[code] for code in available])[0]
        pool, cum_activity = users[lang]
        user = rng.choices(pool, cum_weights=cum_activity)[0]
        if lang == "en":
            other = None
            if rng.random() < COMPOUND_RATE:
                other = rng.choices(STEADY_TOPICS, weights=weights[: len(STEADY_TOPICS)])[0]
                other = None if other is topic else other
            text = _english_text(topic, rng, other)
        else:
            text = _foreign_text(topic, lang, rng)
        channel = user.channel if rng.random() < 0.85 else OTHER_CHANNEL[user.channel]
        if topic.name == FADING_TOPIC:
            channel = "app"  # only users of the retiring mobile app see the sunset banner
        events.append((_timestamp(day, rng), user.user_id, text, channel, lang, topic.name))
    end = datetime(2026, 8, 23, 23, 59, 59, tzinfo=timezone.utc)
    for event in rng.sample(events, n_retries):
        retry_at = min(event[0] + timedelta(seconds=rng.randrange(5, 900)), end)
        events.append((retry_at, *event[1:]))
    events.sort(key=lambda event: event[0])

    rows, truth = [], []
    seen_ids: set[str] = set()
    for instant, user_id, text, channel, lang, topic_name in events:
        query_id = f"q{rng.getrandbits(40):010x}"
        while query_id in seen_ids:
            query_id = f"q{rng.getrandbits(40):010x}"
        seen_ids.add(query_id)
        rows.append(
            {
                "query_id": query_id,
                "timestamp": _format_timestamp(instant, rng),
                "user_id": user_id,
                "text": text,
                "channel": channel,
                "lang": lang,
            }
        )
        truth.append({"query_id": query_id, "topic": topic_name})
    return rows, truth


# --------------------------------------------------------------------------------------------
# Outcomes: errors, thumbs, latency and cost


def failure_rate(topic: str) -> float:
    """The planted probability that a request of ``topic`` fails (errors or gets a thumbs-down)."""
    return PLANTED_FAILURE_RATE.get(topic, BASE_FAILURE_RATE)


def add_outcomes(
    rows: list[dict[str, str]], truth: list[dict[str, str]], rng: random.Random
) -> None:
    """Add ``error``, ``feedback``, ``latency_s`` and ``cost`` to each log row, and the planted
    ``failure_rate`` of its topic to each truth row, in place.

    A row fails with its topic's planted probability. A failure is either an error (half of
    them; some errors are timeouts) or an answer the user thumbed down, so a row failed exactly
    when ``error`` is true or ``feedback`` is ``down``: evalcov's default failure definition
    measures the planted rate. Users rate a tenth of good answers (``up``); most cells stay
    blank, as in real logs.
    """
    for row, true in zip(rows, truth, strict=True):
        topic = true["topic"]
        rate = failure_rate(topic)
        failed = rng.random() < rate
        error = failed and rng.random() < ERROR_SHARE_OF_FAILURES
        if error:
            feedback = "down" if rng.random() < FEEDBACK_RATE_ERROR else ""
        elif failed:
            feedback = "down"
        else:
            feedback = "up" if rng.random() < FEEDBACK_RATE_OK else ""
        latency = MEDIAN_LATENCY_S * LATENCY_FACTOR.get(topic, 1.0) * rng.lognormvariate(0, 0.45)
        if error:
            latency = TIMEOUT_S if rng.random() < TIMEOUT_SHARE_OF_ERRORS else latency / 3
        cost = USD_PER_REQUEST + USD_PER_SECOND * latency * rng.lognormvariate(0, 0.2)
        row.update(
            error=str(error), feedback=feedback, latency_s=f"{latency:.2f}", cost=f"{cost:.5f}"
        )
        true["failure_rate"] = f"{rate:.2f}"


# --------------------------------------------------------------------------------------------
# Eval set, eval results, promptfoo config


def make_evals() -> list[dict[str, str]]:
    """Rows ``eval_id``, ``prompt``, ``topic`` of the hand-written eval set, in topic order."""
    rows = []
    for topic, prompts in EVAL_PROMPTS.items():
        for prompt in prompts:
            rows.append({"eval_id": f"ev{len(rows) + 1:03d}", "prompt": prompt, "topic": topic})
    return rows


def make_eval_results(evals: list[dict[str, str]], rng: random.Random) -> list[dict[str, str]]:
    """Pass/fail per eval with a fixed number of failures per topic, and a grader score."""
    failed: set[str] = set()
    for topic in EVAL_PROMPTS:
        ids = [row["eval_id"] for row in evals if row["topic"] == topic]
        n_failed = round(len(ids) * EVAL_FAIL_RATE.get(topic, DEFAULT_FAIL_RATE))
        failed.update(rng.sample(ids, n_failed))
    rows = []
    for row in evals:
        passed = row["eval_id"] not in failed
        score = rng.choice((1.0, 1.0, rng.uniform(0.7, 1.0))) if passed else rng.uniform(0.0, 0.5)
        rows.append(
            {
                "eval_id": row["eval_id"],
                "prompt": row["prompt"],
                "passed": str(passed),
                "score": f"{score:.2f}",
            }
        )
    return rows


class _LiteralDumper(yaml.SafeDumper):
    """Safe dumper that writes multi-line strings (the prompt template) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_LiteralDumper.add_representer(str, _represent_str)


def make_promptfoo_config(evals: list[dict[str, str]]) -> str:
    """The eval set as a promptfoo config: one test per eval with ``vars.query`` and a rubric."""
    config = {
        "description": "Northwind Bank support assistant (Nova) regression evals",
        "prompts": [f"{SYSTEM_PROMPT}\n\nCustomer: {{{{query}}}}\nNova:"],
        "providers": ["openai:gpt-4o-mini"],
        "tests": [
            {
                "description": row["eval_id"],
                "vars": {"query": row["prompt"]},
                "assert": [
                    {
                        "type": "llm-rubric",
                        "value": EVAL_ASSERT_RUBRIC.format(topic=row["topic"].replace("_", " ")),
                    }
                ],
                "metadata": {"topic": row["topic"]},
            }
            for row in evals
        ],
    }
    header = "# Synthetic eval set for evalcov's sample data; generated by make_sample_data.py.\n"
    body = yaml.dump(config, Dumper=_LiteralDumper, sort_keys=False, allow_unicode=True, width=100)
    return header + body


# --------------------------------------------------------------------------------------------
# Chat logs


FOLLOW_UPS = (
    ("Thanks! How long does that usually take?", "Usually one to three business days."),
    ("Is there a fee for that?", "No, there's no fee for that."),
    ("Can I do that from the app?", "Yes, everything I described works in the app and online."),
    ("That didn't work. Can I talk to someone?", "Sure, I'm connecting you to an agent now."),
    ("ok thanks", "You're welcome! Anything else I can help with?"),
    ("what if I'm traveling right now?", "That's fine, it works the same from abroad."),
)


def make_chat_logs(rng: random.Random) -> list[str]:
    """Multi-turn conversations in OpenAI ``messages`` format, one JSON object per line."""
    lines = []
    days = [START + timedelta(days=i) for i in range(N_WEEKS * 7)]
    topic_order = [*STEADY_TOPICS, TOPIC_BY_NAME[LAUNCH_TOPIC], TOPIC_BY_NAME[FADING_TOPIC]]
    for i in range(N_CONVERSATIONS):
        day = rng.choice(days)
        weights = _topic_weights(day)
        messages = [{"role": "system", "content": SYSTEM_PROMPT}]
        for turn in range(rng.choice((1, 2, 2, 3))):
            if turn == 0 or rng.random() < 0.3:
                topic = rng.choices(topic_order, weights=weights)[0]
                user, assistant = _english_text(topic, rng, None), topic.answer
            else:
                user, assistant = rng.choice(FOLLOW_UPS)
            messages += [
                {"role": "user", "content": user},
                {"role": "assistant", "content": assistant},
            ]
        record = {
            "conversation_id": f"conv-{i + 1:04d}",
            "created_at": _timestamp(day, rng).isoformat(),
            "messages": messages,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return lines


# --------------------------------------------------------------------------------------------
# Writing


def _csv_text(rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_gzip(path: Path, text: str) -> None:
    # mtime=0 and no stored file name keep the archive byte-identical across runs.
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text.encode("utf-8"))


def generate(out_dir: str | Path) -> dict[str, Path]:
    """Write every sample file into ``out_dir`` and return their paths by short name.

    Parameters
    ----------
    out_dir : str or Path
        Directory to write into; created if missing. Existing files are overwritten.

    Returns
    -------
    dict of str to Path
        ``traffic``, ``traffic_topics``, ``evals``, ``eval_results``, ``promptfoo`` and
        ``chat_logs``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # One generator per output, so editing one file's recipe leaves the others unchanged.
    traffic, truth = make_traffic(random.Random(SEED))
    add_outcomes(traffic, truth, random.Random(SEED + 3))
    evals = make_evals()
    results = make_eval_results(evals, random.Random(SEED + 1))
    chats = make_chat_logs(random.Random(SEED + 2))
    paths = {
        "traffic": out / "traffic.csv.gz",
        "traffic_topics": out / "traffic_topics.csv",
        "evals": out / "evals.csv",
        "eval_results": out / "eval_results.csv",
        "promptfoo": out / "promptfooconfig.yaml",
        "chat_logs": out / "chat_logs.jsonl",
    }
    _write_gzip(paths["traffic"], _csv_text(traffic))
    paths["traffic_topics"].write_text(_csv_text(truth), encoding="utf-8")
    paths["evals"].write_text(_csv_text(evals), encoding="utf-8")
    paths["eval_results"].write_text(_csv_text(results), encoding="utf-8")
    paths["promptfoo"].write_text(make_promptfoo_config(evals), encoding="utf-8")
    paths["chat_logs"].write_text("\n".join(chats) + "\n", encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="directory to write into (default: the sample_data folder)",
    )
    args = parser.parse_args(argv)
    for path in generate(args.out).values():
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
