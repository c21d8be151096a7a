"""A realistic bank customer-support history for demos: twelve categories, varied
wording, some ambiguity, some typos. Used by `seed_demo` and `feed_tickets`."""

from __future__ import annotations

import random
from dataclasses import dataclass

CATEGORIES: dict[str, tuple[str, str]] = {
    # slug: (name, description shown to agents)
    "lost-or-stolen-card": ("Lost or stolen card", "The customer lost a card or had it stolen: block it at once."),
    "suspected-fraud": ("Suspected fraud", "Payments the customer does not recognise, phishing, account takeover."),
    "card-delivery": ("Card delivery", "A new or replacement card has not arrived, or its delivery address."),
    "card-declined": ("Card declined", "Card payments or withdrawals refused, card not working."),
    "transfers": ("Transfers", "Outgoing or incoming transfers missing, delayed or sent to the wrong account."),
    "fees-and-charges": ("Fees and charges", "Questions about fees, interest, exchange rates and charges."),
    "disputes-and-refunds": ("Disputes and refunds", "Merchant refunds, chargebacks, double charges."),
    "account-access": ("Account access", "Login problems, passwords, PINs, locked accounts, the app."),
    "new-products": ("New products", "Loans, savings, credit cards, mortgages, premium plans."),
    "personal-details": ("Personal details", "Change of address, name, phone number, identity checks."),
    "cash-and-atm": ("Cash and ATMs", "ATM withdrawals, cash deposits, an ATM that kept the card or cash."),
    "close-account": ("Close account", "The customer wants to close an account or cancel a product."),
}

# Each message template with the subjects a customer would write above it: a subject
# never contradicts its body ("Card stolen" above "I left my card in a taxi").
_MESSAGES: dict[str, list[tuple[str, list[str]]]] = {
    "lost-or-stolen-card": [
        (
            "I think I lost my card on the {place} this morning, please block it before someone uses it.",
            ["Lost my card", "Please block my card", "Need to freeze card"],
        ),
        (
            "My wallet was stolen in {city} last night with my debit card inside. What do I do now?",
            ["Card stolen", "URGENT: wallet stolen", "Wallet stolen with my card"],
        ),
        (
            "I can't find my card anywhere. Can you freeze it and send me a new one?",
            ["Can't find my debit card", "Need to freeze card", "Lost my card"],
        ),
        (
            "Someone took my bag at the {place}, the card was in it. Please cancel it right away.",
            ["Bag snatched with my cards", "Card stolen"],
        ),
        ("lost my card while travelling in {city}, need it blocked asap", ["card lost abroad", "Lost my card"]),
        (
            "I left my card in a taxi. I want to report it lost and get a replacement.",
            ["Lost my card", "Left my card in a taxi"],
        ),
        (
            "My phone and card were stolen. I'm worried they'll use the card, please stop it.",
            ["Card stolen", "Phone and card stolen"],
        ),
        (
            "I dropped my card somewhere between home and the {place}. Is it possible to lock it?",
            ["Lost my card", "Need to freeze card", "Can I lock my card?"],
        ),
    ],
    "suspected-fraud": [
        (
            "There are {n} payments to {merchant} on my statement that I never made. Total {amount}.",
            ["Transactions I didn't make", "Unknown payment", "Fraud on my account"],
        ),
        (
            "I got a text saying my account was suspended and asking for my PIN. Was that really you?",
            ["Suspicious text from the bank?", "Possible scam"],
        ),
        (
            "Someone bought things online with my card, I still have the card with me. {amount} gone.",
            ["Someone used my card online", "Fraud on my account"],
        ),
        (
            "There's a direct debit from a company I've never heard of taking {amount} every month.",
            ["Unauthorised direct debit", "Unknown payment"],
        ),
        (
            "I received a call from someone claiming to be the bank asking me to move my money. Is this a scam?",
            ["Possible scam", "Suspicious call"],
        ),
        (
            "My account shows a payment of {amount} in {city} but I have never been there.",
            ["Unknown payment", "Transactions I didn't make"],
        ),
        (
            "I clicked a link in an email that looked like yours and entered my details. "
            "Now there are strange transactions.",
            ["Suspicious email from the bank?", "Fraud on my account"],
        ),
        (
            "money missing from my account, I didnt authorise any of it",
            ["Money taken without permission", "Fraud on my account"],
        ),
    ],
    "card-delivery": [
        (
            "I ordered a new card {days} days ago and it still hasn't arrived. Can you check?",
            ["Card hasn't arrived", "New card not received", "Card delivery status"],
        ),
        (
            "My replacement card should have come last week. Where is it?",
            ["Where is my new card?", "Replacement card delivery"],
        ),
        (
            "I moved house, was my new card sent to my old address? I need it sent to the new one.",
            ["Card sent to old address", "Card delivery address"],
        ),
        (
            "How long does card delivery usually take? It's been {days} days.",
            ["Card delivery status", "Still waiting for card"],
        ),
        ("Is there a way to track the card you posted to me?", ["Tracking my card", "Card delivery status"]),
        (
            "The card I was promised has not been delivered yet, I have bills to pay.",
            ["New card not received", "Still waiting for card"],
        ),
        ("still no card after {days} days. please send another one", ["Still waiting for card", "Card hasn't arrived"]),
    ],
    "card-declined": [
        (
            "My card was declined at {merchant} today even though I have money in my account.",
            ["Card declined", "Payment refused", "Card keeps getting declined"],
        ),
        (
            "I tried to pay {amount} online and the payment keeps failing.",
            ["Online payment failed", "Payment refused"],
        ),
        (
            "Contactless doesn't work anymore, I have to insert the card every time.",
            ["Contactless not working", "Card not working"],
        ),
        (
            "My card got rejected abroad in {city}. Is it blocked for foreign payments?",
            ["Why was my card rejected?", "Card declined abroad"],
        ),
        (
            "Every time I use my card at the petrol station it says declined.",
            ["Card keeps getting declined", "Card declined"],
        ),
        (
            "Why is my card not working? I get an error at every shop.",
            ["Card not working", "Declined at the shop"],
        ),
        (
            "payment declined at {merchant} twice, so embarassing, what's wrong",
            ["Declined at the shop", "Card declined"],
        ),
    ],
    "transfers": [
        (
            "I sent {amount} to my landlord {days} days ago and he still hasn't received it.",
            ["Transfer not received", "Missing transfer"],
        ),
        (
            "My salary was supposed to arrive on Friday but it's not in my account.",
            ["Salary not arrived", "Missing transfer"],
        ),
        (
            "I made a transfer to the wrong account number. Can you get the money back?",
            ["Sent money to wrong account"],
        ),
        (
            "The international transfer to {city} has been pending for {days} days.",
            ["International transfer delay", "Transfer pending for days"],
        ),
        (
            "How long does a transfer to another bank take? I sent {amount} yesterday.",
            ["Transfer pending", "How long do transfers take?"],
        ),
        ("I need to cancel a transfer I made by mistake this morning.", ["Cancel a transfer"]),
        (
            "transfer to my friend shows as completed but she didnt get anything",
            ["Payment to friend not showing", "Transfer not received"],
        ),
    ],
    "fees-and-charges": [
        (
            "I was charged a fee of {amount} and I don't understand what it is for.",
            ["Unexpected fee", "Why was I charged?"],
        ),
        (
            "Why do I pay a monthly fee on my current account? It used to be free.",
            ["Monthly fee question", "Account maintenance fee"],
        ),
        (
            "The exchange rate you used for my purchase in {city} was much worse than expected.",
            ["Exchange rate charge"],
        ),
        (
            "I see overdraft interest on my statement but I thought I had an interest-free buffer.",
            ["Overdraft interest", "Charges on statement"],
        ),
        (
            "Is there a fee for withdrawing cash abroad? I was charged {amount}.",
            ["Fee for cash withdrawal", "Unexpected fee"],
        ),
        ("Can you explain the charges on my last statement please?", ["Charges on statement", "Why was I charged?"]),
    ],
    "disputes-and-refunds": [
        (
            "{merchant} said they refunded {amount} {days} days ago but I don't see it.",
            ["Refund not received"],
        ),
        ("I was charged twice for the same purchase at {merchant}.", ["Charged twice", "Dispute a payment"]),
        (
            "I returned the item but the shop refuses to refund me. Can you dispute the payment?",
            ["Merchant won't refund", "Dispute a payment"],
        ),
        (
            "I cancelled my subscription but they charged me {amount} again.",
            ["Subscription charged after cancelling", "Cancelled order still charged"],
        ),
        (
            "The amount charged by {merchant} is different from what I agreed to pay.",
            ["Wrong amount charged", "Dispute a payment"],
        ),
        ("I want to raise a chargeback for an order that never arrived.", ["Chargeback request", "Dispute a payment"]),
        ("double charge from {merchant}, please sort it out", ["Charged twice"]),
    ],
    "account-access": [
        (
            "I can't log in to the app, it says my password is wrong but I just reset it.",
            ["Can't log in", "Locked out of app"],
        ),
        ("My PIN is blocked after too many attempts. How do I unblock it?", ["PIN blocked"]),
        (
            "The verification code never arrives on my phone so I can't sign in.",
            ["Verification code not arriving", "Can't log in"],
        ),
        ("The app crashes every time I open it since the last update.", ["App keeps crashing"]),
        (
            "My online banking is locked. I need access today to pay a bill.",
            ["Account locked", "Reset my online banking"],
        ),
        ("I forgot my password and the reset link has expired.", ["Forgot password", "Reset my online banking"]),
        ("cant login, app just spins forever", ["Can't log in", "App not loading"]),
    ],
    "new-products": [
        (
            "I'd like to know more about your personal loans. Could I borrow {amount}?",
            ["Personal loan enquiry"],
        ),
        (
            "What savings accounts do you offer and what are the interest rates?",
            ["Savings account options", "Interest rates on savings"],
        ),
        ("I want to apply for a credit card. What are the requirements?", ["Apply for a credit card"]),
        ("We are buying a house and would like to talk about a mortgage.", ["Mortgage question"]),
        ("What do I get with the premium plan and how much does it cost?", ["Upgrade to premium"]),
        ("Can I open a joint account with my partner?", ["Joint account"]),
        ("I'm starting a business in {city}. Do you have business accounts?", ["Business account"]),
    ],
    "personal-details": [
        ("I moved to {city}, please update my address.", ["Change of address", "Moving house"]),
        ("I have a new phone number and need to update it on my account.", ["Update phone number"]),
        ("I got married and changed my name. What documents do you need?", ["Name change after marriage"]),
        ("My date of birth is wrong in my profile.", ["Wrong date of birth on file", "Update personal details"]),
        ("You asked me to verify my identity. Which documents can I upload?", ["Verify my identity"]),
        ("How do I change the email address on my account?", ["Update my email", "Update personal details"]),
    ],
    "cash-and-atm": [
        (
            "The ATM at the {place} didn't give me my cash but my account was debited {amount}.",
            ["ATM didn't give cash", "ATM charged but no money"],
        ),
        (
            "The machine kept my card after I entered my PIN. What happens now?",
            ["ATM kept my card", "ATM swallowed card"],
        ),
        (
            "I deposited cash at a branch in {city} but it's not showing in my balance.",
            ["Deposit not showing"],
        ),
        ("What is my daily cash withdrawal limit?", ["Withdrawal limit"]),
        (
            "I tried to withdraw {amount} and the ATM said transaction failed, but money was taken.",
            ["Cash withdrawal problem", "ATM charged but no money"],
        ),
        ("atm ate my card at the {place}, can i get it back?", ["ATM swallowed card", "ATM kept my card"]),
    ],
    "close-account": [
        (
            "I would like to close my current account and move my money elsewhere.",
            ["Close my account", "Account closure"],
        ),
        ("Please cancel my credit card, I don't use it anymore.", ["Cancel credit card"]),
        ("How do I close my savings account and transfer the balance?", ["Close savings account"]),
        ("I'm moving abroad and want to close all my accounts with you.", ["Close my account", "Account closure"]),
        ("I'm unhappy with the service and want to close my account.", ["I want to leave", "Close my account"]),
    ],
}

# Tickets that mention two topics. Agents disagree on these in real life, so the
# label is the first topic three times out of four and the second otherwise.
# Each has subjects either topic's customer could write above it (none contradicting it):
# the subject does not settle which topic the agent will pick.
_AMBIGUOUS = [
    (
        "lost-or-stolen-card",
        "suspected-fraud",
        "My card was stolen and now I see a payment of {amount} to {merchant} I didn't make.",
        ["Card stolen", "URGENT: wallet stolen", "Transactions I didn't make", "Unknown payment"],
    ),
    (
        "suspected-fraud",
        "lost-or-stolen-card",
        "I still have my card but someone spent {amount} with it. Should I block the card?",
        ["Someone used my card online", "Fraud on my account", "Please block my card", "Need to freeze card"],
    ),
    (
        "card-declined",
        "card-delivery",
        "My new card arrived but it's declined everywhere.",
        ["Card declined", "Card not working", "Replacement card delivery"],
    ),
    (
        "card-delivery",
        "card-declined",
        "My card was declined so I ordered a new one, it's been {days} days and nothing came.",
        ["Still waiting for card", "Where is my new card?", "Card declined"],
    ),
    (
        "disputes-and-refunds",
        "fees-and-charges",
        "I was charged a fee twice by {merchant} and want my money back.",
        ["Charged twice", "Dispute a payment", "Unexpected fee", "Why was I charged?"],
    ),
    (
        "fees-and-charges",
        "transfers",
        "Why was I charged {amount} for a transfer to {city}?",
        ["Why was I charged?", "Unexpected fee", "International transfer delay"],
    ),
    (
        "cash-and-atm",
        "fees-and-charges",
        "The ATM charged me a fee and didn't give me the money.",
        ["ATM didn't give cash", "ATM charged but no money", "Fee for cash withdrawal", "Unexpected fee"],
    ),
    (
        "account-access",
        "suspected-fraud",
        "I was locked out of the app after a suspicious login alert.",
        ["Locked out of app", "Account locked", "Possible scam"],
    ),
    (
        "transfers",
        "disputes-and-refunds",
        "I paid {merchant} {amount} by bank transfer and they say they never got it.",
        ["Transfer not received", "Missing transfer", "Dispute a payment"],
    ),
    (
        "close-account",
        "fees-and-charges",
        "Your fees are too high, I'm thinking of closing my account.",
        ["Close my account", "I want to leave", "Monthly fee question", "Account maintenance fee"],
    ),
]

# Vague messages: the text alone does not settle the category.
_VAGUE = [
    (["card-declined", "card-delivery", "lost-or-stolen-card"], "I have a problem with my card.", ["Card problem"]),
    (
        ["transfers", "disputes-and-refunds", "suspected-fraud"],
        "There's a problem with a payment, please call me.",
        ["Payment problem", "Please call me"],
    ),
    (["account-access", "personal-details"], "I need help with my account.", ["Help with my account"]),
    (["fees-and-charges", "disputes-and-refunds"], "Something is wrong with my statement.", ["Statement question"]),
    (["card-declined", "cash-and-atm"], "my card isnt working properly", ["card problem"]),
]

_OPENERS = ["", "", "", "Hi, ", "Hello, ", "Good morning. ", "Hi there! ", "Dear team, ", "hey "]
_CLOSERS = ["", "", "", " Thanks.", " Thank you!", " Please help.", " Regards, {name}", " Kind regards.", " thx"]
_PLACES = ["bus", "train", "supermarket", "gym", "airport", "station", "cinema", "restaurant", "shopping centre"]
_CITIES = ["Lisbon", "Berlin", "Madrid", "Paris", "London", "Dublin", "Rome", "Amsterdam", "New York", "Warsaw"]
_MERCHANTS = ["Amazon", "Netflix", "Uber", "Tesco", "Zara", "Spotify", "Booking.com", "eBay", "Apple", "Lidl"]
_NAMES = ["Anna", "Tom", "Maria", "Jamal", "Chen", "Sofia", "Lukas", "Priya", "Omar", "Emma", "Joao", "Zoe"]
_CHANNELS = ["email"] * 5 + ["chat"] * 6 + ["web"] * 3 + ["social"]

# Real categories are not equally common.
_WEIGHTS = {
    "card-declined": 13,
    "transfers": 13,
    "card-delivery": 11,
    "account-access": 11,
    "suspected-fraud": 9,
    "disputes-and-refunds": 9,
    "fees-and-charges": 8,
    "lost-or-stolen-card": 8,
    "cash-and-atm": 6,
    "personal-details": 5,
    "new-products": 4,
    "close-account": 3,
}


@dataclass(frozen=True)
class DemoTicket:
    subject: str
    body: str
    channel: str
    customer_ref: str
    category: str


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.random()
    if kind < 0.4:
        return word[:i] + word[i + 1 :]  # drop a letter
    if kind < 0.8:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]  # swap two
    return word[:i] + word[i] + word[i:]  # double a letter


def _misspell(text: str, rng: random.Random) -> str:
    return " ".join(_typo(w, rng) if rng.random() < 0.12 else w for w in text.split(" "))


def _fill(template: str, rng: random.Random) -> str:
    return template.format(
        amount=f"{rng.choice(['£', '€', '$'])}{rng.choice([9.99, 15, 23.5, 40, 75, 120, 250, 499, 1200])}",
        merchant=rng.choice(_MERCHANTS),
        city=rng.choice(_CITIES),
        place=rng.choice(_PLACES),
        days=rng.choice([3, 5, 7, 10, 12, 14, 21]),
        n=rng.choice(["two", "three", "4", "several"]),
        name=rng.choice(_NAMES),
    )


def generate(count: int, seed: int | None = None, weights: dict[str, float] | None = None) -> list[DemoTicket]:
    """`count` tickets with labels, varied and sometimes ambiguous or misspelled. `weights`
    overrides how common each category is (the demo month's outage week)."""
    rng = random.Random(seed)
    mix = {**_WEIGHTS, **(weights or {})}
    slugs = list(mix)
    tickets = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.08:
            first, second, core, subjects = rng.choice(_AMBIGUOUS)
            category = first if rng.random() < 0.75 else second
        elif roll < 0.11:
            choices, core, subjects = rng.choice(_VAGUE)
            category = rng.choice(choices)
        else:
            category = rng.choices(slugs, [mix[s] for s in slugs])[0]
            core, subjects = rng.choice(_MESSAGES[category])
        body = _fill(rng.choice(_OPENERS) + core + rng.choice(_CLOSERS), rng)
        subject = rng.choice(subjects) if rng.random() < 0.8 else ""
        if roll >= 0.11 and rng.random() < 0.3:
            # A second sentence adds variety: one a customer could write under the same subject.
            heading = subject or subjects[0]
            fitting = [m for m, fits in _MESSAGES[category] if m != core and heading in fits]
            if fitting:
                body += " " + _fill(rng.choice(fitting), rng)
        if rng.random() < 0.15:
            body = _misspell(body, rng)
        if rng.random() < 0.1:
            body = body.lower()
        tickets.append(
            DemoTicket(
                subject=subject,
                body=body,
                channel=rng.choice(_CHANNELS),
                customer_ref=f"CUST-{rng.randrange(10000, 99999)}",
                category=category,
            )
        )
    return tickets
