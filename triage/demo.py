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

_SUBJECTS: dict[str, list[str]] = {
    "lost-or-stolen-card": [
        "Lost my card",
        "Card stolen",
        "URGENT: wallet stolen",
        "Can't find my debit card",
        "Please block my card",
        "card lost abroad",
        "Bag snatched with my cards",
        "Need to freeze card",
    ],
    "suspected-fraud": [
        "Transactions I didn't make",
        "Fraud on my account",
        "Unknown payment",
        "Suspicious email from the bank?",
        "Someone used my card online",
        "Possible scam",
        "Money taken without permission",
        "Unauthorised direct debit",
    ],
    "card-delivery": [
        "Card hasn't arrived",
        "Where is my new card?",
        "Replacement card delivery",
        "Card delivery status",
        "Still waiting for card",
        "Card sent to old address",
        "Tracking my card",
        "New card not received",
    ],
    "card-declined": [
        "Card declined",
        "Payment refused",
        "Card not working",
        "Declined at the shop",
        "Online payment failed",
        "Contactless not working",
        "Why was my card rejected?",
        "Card keeps getting declined",
    ],
    "transfers": [
        "Transfer not received",
        "Missing transfer",
        "Sent money to wrong account",
        "Transfer pending for days",
        "International transfer delay",
        "Salary not arrived",
        "Payment to friend not showing",
        "Cancel a transfer",
    ],
    "fees-and-charges": [
        "Unexpected fee",
        "Why was I charged?",
        "Monthly fee question",
        "Exchange rate charge",
        "Overdraft interest",
        "Fee for cash withdrawal",
        "Charges on statement",
        "Account maintenance fee",
    ],
    "disputes-and-refunds": [
        "Refund not received",
        "Charged twice",
        "Dispute a payment",
        "Merchant won't refund",
        "Chargeback request",
        "Wrong amount charged",
        "Cancelled order still charged",
        "Subscription charged after cancelling",
    ],
    "account-access": [
        "Can't log in",
        "Locked out of app",
        "Forgot password",
        "PIN blocked",
        "App keeps crashing",
        "Verification code not arriving",
        "Reset my online banking",
        "Account locked",
    ],
    "new-products": [
        "Personal loan enquiry",
        "Savings account options",
        "Apply for a credit card",
        "Mortgage question",
        "Upgrade to premium",
        "Joint account",
        "Business account",
        "Interest rates on savings",
    ],
    "personal-details": [
        "Change of address",
        "Update phone number",
        "Name change after marriage",
        "Update my email",
        "Verify my identity",
        "Wrong date of birth on file",
        "Moving house",
        "Update personal details",
    ],
    "cash-and-atm": [
        "ATM didn't give cash",
        "ATM kept my card",
        "Cash withdrawal problem",
        "Deposit not showing",
        "ATM charged but no money",
        "Withdrawal limit",
        "Where can I deposit cash?",
        "ATM swallowed card",
    ],
    "close-account": [
        "Close my account",
        "Cancel account",
        "I want to leave",
        "Account closure",
        "Close savings account",
        "Cancel credit card",
        "Stop using your bank",
        "How do I close my account",
    ],
}

_BODIES: dict[str, list[str]] = {
    "lost-or-stolen-card": [
        "I think I lost my card on the {place} this morning, please block it before someone uses it.",
        "My wallet was stolen in {city} last night with my debit card inside. What do I do now?",
        "I can't find my card anywhere. Can you freeze it and send me a new one?",
        "Someone took my bag at the {place}, the card was in it. Please cancel it right away.",
        "lost my card while travelling in {city}, need it blocked asap",
        "I left my card in a taxi. I want to report it lost and get a replacement.",
        "My phone and card were stolen. I'm worried they'll use the card, please stop it.",
        "I dropped my card somewhere between home and the {place}. Is it possible to lock it?",
    ],
    "suspected-fraud": [
        "There are {n} payments to {merchant} on my statement that I never made. Total {amount}.",
        "I got a text saying my account was suspended and asking for my PIN. Was that really you?",
        "Someone bought things online with my card, I still have the card with me. {amount} gone.",
        "There's a direct debit from a company I've never heard of taking {amount} every month.",
        "I received a call from someone claiming to be the bank asking me to move my money. Is this a scam?",
        "My account shows a payment of {amount} in {city} but I have never been there.",
        "I clicked a link in an email that looked like yours and entered my details. "
        "Now there are strange transactions.",
        "money missing from my account, I didnt authorise any of it",
    ],
    "card-delivery": [
        "I ordered a new card {days} days ago and it still hasn't arrived. Can you check?",
        "My replacement card should have come last week. Where is it?",
        "I moved house, was my new card sent to my old address? I need it sent to the new one.",
        "How long does card delivery usually take? It's been {days} days.",
        "Is there a way to track the card you posted to me?",
        "The card I was promised has not been delivered yet, I have bills to pay.",
        "still no card after {days} days. please send another one",
    ],
    "card-declined": [
        "My card was declined at {merchant} today even though I have money in my account.",
        "I tried to pay {amount} online and the payment keeps failing.",
        "Contactless doesn't work anymore, I have to insert the card every time.",
        "My card got rejected abroad in {city}. Is it blocked for foreign payments?",
        "Every time I use my card at the petrol station it says declined.",
        "Why is my card not working? I get an error at every shop.",
        "payment declined at {merchant} twice, so embarassing, what's wrong",
    ],
    "transfers": [
        "I sent {amount} to my landlord {days} days ago and he still hasn't received it.",
        "My salary was supposed to arrive on Friday but it's not in my account.",
        "I made a transfer to the wrong account number. Can you get the money back?",
        "The international transfer to {city} has been pending for {days} days.",
        "How long does a transfer to another bank take? I sent {amount} yesterday.",
        "I need to cancel a transfer I made by mistake this morning.",
        "transfer to my friend shows as completed but she didnt get anything",
    ],
    "fees-and-charges": [
        "I was charged a fee of {amount} and I don't understand what it is for.",
        "Why do I pay a monthly fee on my current account? It used to be free.",
        "The exchange rate you used for my purchase in {city} was much worse than expected.",
        "I see overdraft interest on my statement but I thought I had an interest-free buffer.",
        "Is there a fee for withdrawing cash abroad? I was charged {amount}.",
        "Can you explain the charges on my last statement please?",
    ],
    "disputes-and-refunds": [
        "{merchant} said they refunded {amount} {days} days ago but I don't see it.",
        "I was charged twice for the same purchase at {merchant}.",
        "I returned the item but the shop refuses to refund me. Can you dispute the payment?",
        "I cancelled my subscription but they charged me {amount} again.",
        "The amount charged by {merchant} is different from what I agreed to pay.",
        "I want to raise a chargeback for an order that never arrived.",
        "double charge from {merchant}, please sort it out",
    ],
    "account-access": [
        "I can't log in to the app, it says my password is wrong but I just reset it.",
        "My PIN is blocked after too many attempts. How do I unblock it?",
        "The verification code never arrives on my phone so I can't sign in.",
        "The app crashes every time I open it since the last update.",
        "My online banking is locked. I need access today to pay a bill.",
        "I forgot my password and the reset link has expired.",
        "cant login, app just spins forever",
    ],
    "new-products": [
        "I'd like to know more about your personal loans. Could I borrow {amount}?",
        "What savings accounts do you offer and what are the interest rates?",
        "I want to apply for a credit card. What are the requirements?",
        "We are buying a house and would like to talk about a mortgage.",
        "What do I get with the premium plan and how much does it cost?",
        "Can I open a joint account with my partner?",
        "I'm starting a business in {city}. Do you have business accounts?",
    ],
    "personal-details": [
        "I moved to {city}, please update my address.",
        "I have a new phone number and need to update it on my account.",
        "I got married and changed my name. What documents do you need?",
        "My date of birth is wrong in my profile.",
        "You asked me to verify my identity. Which documents can I upload?",
        "How do I change the email address on my account?",
    ],
    "cash-and-atm": [
        "The ATM at the {place} didn't give me my cash but my account was debited {amount}.",
        "The machine kept my card after I entered my PIN. What happens now?",
        "I deposited cash at a branch in {city} but it's not showing in my balance.",
        "What is my daily cash withdrawal limit?",
        "I tried to withdraw {amount} and the ATM said transaction failed, but money was taken.",
        "atm ate my card at the {place}, can i get it back?",
    ],
    "close-account": [
        "I would like to close my current account and move my money elsewhere.",
        "Please cancel my credit card, I don't use it anymore.",
        "How do I close my savings account and transfer the balance?",
        "I'm moving abroad and want to close all my accounts with you.",
        "I'm unhappy with the service and want to close my account.",
    ],
}

# Tickets that mention two topics. Agents disagree on these in real life, so the
# label is the first topic three times out of four and the second otherwise.
_AMBIGUOUS = [
    (
        "lost-or-stolen-card",
        "suspected-fraud",
        "My card was stolen and now I see a payment of {amount} to {merchant} I didn't make.",
    ),
    (
        "suspected-fraud",
        "lost-or-stolen-card",
        "I still have my card but someone spent {amount} with it. Should I block the card?",
    ),
    ("card-declined", "card-delivery", "My new card arrived but it's declined everywhere."),
    (
        "card-delivery",
        "card-declined",
        "My card was declined so I ordered a new one, it's been {days} days and nothing came.",
    ),
    ("disputes-and-refunds", "fees-and-charges", "I was charged a fee twice by {merchant} and want my money back."),
    ("fees-and-charges", "transfers", "Why was I charged {amount} for a transfer to {city}?"),
    ("cash-and-atm", "fees-and-charges", "The ATM charged me a fee and didn't give me the money."),
    ("account-access", "suspected-fraud", "I was locked out of the app after a suspicious login alert."),
    (
        "transfers",
        "disputes-and-refunds",
        "I paid {merchant} {amount} by bank transfer and they say they never got it.",
    ),
    ("close-account", "fees-and-charges", "Your fees are too high, I'm thinking of closing my account."),
]

# Vague messages: the text alone does not settle the category.
_VAGUE = [
    (["card-declined", "card-delivery", "lost-or-stolen-card"], "I have a problem with my card."),
    (["transfers", "disputes-and-refunds", "suspected-fraud"], "There's a problem with a payment, please call me."),
    (["account-access", "personal-details"], "I need help with my account."),
    (["fees-and-charges", "disputes-and-refunds"], "Something is wrong with my statement."),
    (["card-declined", "cash-and-atm"], "my card isnt working properly"),
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


def generate(count: int, seed: int | None = None) -> list[DemoTicket]:
    """`count` tickets with labels, varied and sometimes ambiguous or misspelled."""
    rng = random.Random(seed)
    slugs = list(_WEIGHTS)
    weights = [_WEIGHTS[s] for s in slugs]
    tickets = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.08:
            first, second, core = rng.choice(_AMBIGUOUS)
            category = first if rng.random() < 0.75 else second
            topic = rng.choice([first, second])
        elif roll < 0.11:
            choices, core = rng.choice(_VAGUE)
            category = rng.choice(choices)
            topic = rng.choice(choices)
        else:
            category = rng.choices(slugs, weights)[0]
            core = rng.choice(_BODIES[category])
            topic = category
        body = _fill(rng.choice(_OPENERS) + core + rng.choice(_CLOSERS), rng)
        if roll >= 0.11 and rng.random() < 0.3:  # a second sentence from the same topic adds variety
            body += " " + _fill(rng.choice(_BODIES[category]), rng)
        subject = rng.choice(_SUBJECTS[topic]) if rng.random() < 0.8 else ""
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
