"""Out-of-scope messages a bank's support inbox really gets, generated from templates.

Used by bench/oos.py as the out-of-taxonomy half of the harder benchmark. Nothing here
comes from a public data set: every template was written for this benchmark. Each kind
is a different way a message can be out of scope:

* ``assistant``: short requests from other domains (weather, recipes, travel, music),
  phrased like the questions a bank's customers type, unlike any banking intent.
* ``short``: two- to four-word queries, the shortest and hardest to judge.
* ``spam``: marketing, phishing-style bulk mail, SEO and crypto offers.
* ``banking_other``: banking products the taxonomy does not cover (loans, mortgages,
  savings, insurance): the same domain and words, a different request.
* ``job``: job applications and questions about vacancies.
* ``press``: journalists, researchers and event organisers.
* ``wrong_company``: customers of another business (a telco, a shop, an airline, a
  utility) writing to the wrong address; these share words with banking intents
  ("order", "refund", "bill", "cancel") and are the hardest kind.
* ``automated``: out-of-office replies, newsletters, delivery notifications, invoices
  from suppliers.

``generate(n_per_kind, seed)`` returns ``(kind, text)`` pairs, deterministic for a seed.
"""

from __future__ import annotations

import random

_SLOTS: dict[str, list[str]] = {
    "city": ["Lisbon", "Berlin", "Madrid", "Paris", "Leeds", "Dublin", "Rome", "Boston", "Kraków", "Osaka"],
    "day": ["tomorrow", "this weekend", "on Friday", "tonight", "next Monday", "on Sunday morning"],
    "dish": ["lasagne", "banana bread", "a vegan curry", "pancakes", "risotto", "chicken soup", "sourdough"],
    "artist": ["Adele", "Daft Punk", "Taylor Swift", "Miles Davis", "Coldplay", "Bad Bunny"],
    "thing": ["the Eiffel Tower", "a blue whale", "Mount Everest", "the Moon", "the Nile", "a hummingbird"],
    "company": ["Vodafone", "IKEA", "Ryanair", "British Gas", "Deliveroo", "Zalando", "Netflix", "DHL"],
    "role": ["junior data analyst", "customer service advisor", "software engineer", "marketing intern", "UX designer"],
    "outlet": [
        "the Financial Times",
        "a local radio station",
        "TechCrunch",
        "our university paper",
        "a fintech podcast",
    ],
    "product": ["sofa", "pizza", "laptop", "pair of trainers", "parcel", "phone", "washing machine", "concert ticket"],
    "name": ["Anna", "Tom", "Maria", "Jamal", "Chen", "Sofia", "Lukas", "Priya", "Omar"],
    "n": ["2", "3", "5", "10", "45"],
    "lang": ["Spanish", "Japanese", "French", "German", "Italian"],
}

_TEMPLATES: dict[str, list[str]] = {
    "assistant": [
        "What's the weather going to be like in {city} {day}?",
        "Will it rain in {city} {day}?",
        "How do I make {dish}?",
        "Give me a recipe for {dish} that takes under an hour",
        "How long should I bake {dish} for?",
        "Play something by {artist}",
        "Who sings that song that goes la la la?",
        "How tall is {thing}?",
        "How far away is {thing} from here?",
        "Set a timer for {n} minutes",
        "Wake me up at 7 tomorrow",
        "Book me a table for {n} in {city} {day}",
        "What time does the train to {city} leave?",
        "Find me a cheap flight to {city} {day}",
        "How do you say good morning in {lang}?",
        "Tell me a joke",
        "What's the capital of Australia?",
        "How many calories are in {dish}?",
        "Remind me to call {name} {day}",
        "Add milk and eggs to my shopping list",
        "What's on my calendar {day}?",
        "Who won the football last night?",
        "How do I change a flat tyre?",
        "Turn off the lights in the living room",
        "What's a good movie to watch {day}?",
        "My car is making a weird noise when I brake",
        "How often should I water a cactus?",
        "Is {dish} healthy?",
        "What's the time in {city} right now?",
        "Recommend a podcast about history",
    ],
    "short": [
        "weather {city}",
        "pizza near me",
        "translate hello",
        "{dish} recipe",
        "timer {n} min",
        "play {artist}",
        "jokes",
        "train times {city}",
        "flights to {city}",
        "are you hiring",
        "press enquiry",
        "unsubscribe",
        "tv licence",
        "parcel tracking",
        "broadband down",
        "gym opening hours",
        "what's your name",
        "how old are you",
        "hi",
        "test",
    ],
    "spam": [
        "Congratulations! You have been selected to receive a free iPhone. Click here to claim your prize today.",
        "Boost your website's Google ranking with our SEO package, first month 50% off.",
        "Earn {n}00% returns in {n} weeks with our new crypto trading bot. Limited places!",
        "Dear Sir/Madam, I am a prince with an inheritance of {n} million dollars and need your help to move it.",
        "Cheap designer watches and handbags, free shipping worldwide, order now.",
        "Lose {n} kilos in {n} days with this one weird trick doctors hate.",
        "We can build you a mobile app for just $999. Reply for a free quote.",
        "Hot deals this weekend only: up to 70% off garden furniture!",
        "Your domain name is about to expire, renew now to keep your listing in our directory.",
        "Get more followers on Instagram instantly, {n}000 real followers guaranteed.",
        "Increase your sales with our B2B email lists, {n} million verified contacts.",
        "Meet singles in {city} tonight, sign up free.",
    ],
    "banking_other": [
        "Can I get a mortgage with you?",
        "What interest rate do you pay on savings accounts?",
        "How do I apply for a personal loan of {n}000?",
        "Do you offer business accounts for sole traders?",
        "Can you increase my overdraft limit?",
        "I'd like to open a joint account with my partner.",
        "Do you have an ISA or any tax-free savings?",
        "How do I invest in stocks through your app?",
        "What's my credit score?",
        "Can I set up a pension with you?",
        "Do you do travel insurance?",
        "I want to remortgage my house in {city}, what are your rates?",
        "Can my {n}-year-old have a child account?",
        "How do I pay my council tax with your app?",
        "Do you offer student loans?",
        "Can I buy gold or silver through my account?",
        "What happens to my account when I die? I'm writing my will.",
        "Do you lend money to buy a car?",
    ],
    "job": [
        "Hello, I would like to apply for the {role} position. Please find my CV attached.",
        "Are you currently hiring for any {role} roles in {city}?",
        "I'm a recent graduate and would love to join your team as a {role}. Who should I send my CV to?",
        "Could you tell me the status of my application for the {role} job? I interviewed last week.",
        "Do you offer summer internships for students?",
        "I'd like to withdraw my application for the {role} vacancy, I've accepted another offer.",
        "What is the salary range for the {role} role advertised on LinkedIn?",
        "Hi, I have {n} years of experience in customer support and I'm looking for a new challenge. Any openings?",
        "Can I do my second interview by video call instead of coming to the office?",
    ],
    "press": [
        "Hi, I'm a journalist at {outlet} writing a piece on mobile banking. Could your spokesperson comment?",
        "I'm researching a story for {outlet} and would like to interview your CEO.",
        "Could you send me your latest press release and media kit?",
        "We are organising a fintech conference in {city} and would like to invite one of your executives to speak.",
        "I'm a PhD student surveying digital banks, would you be willing to answer {n} questions for my thesis?",
        "Request for comment: we are publishing tomorrow about the outage reported by users.",
        "Can I get a photo of your founders for an article in {outlet}?",
        "Hello, I host {outlet} and would love to have someone from your team on the show.",
    ],
    "wrong_company": [
        "My {product} order from {company} still hasn't arrived and the tracking hasn't moved in {n} days.",
        "I want to cancel my {company} subscription, how do I do that?",
        "My internet has been down since {day}, when will the engineer come?",
        "Why is my phone bill so high this month? I didn't make any international calls.",
        "My flight to {city} was cancelled, I want compensation.",
        "The {product} I received is broken, I want to return it for a refund.",
        "Can I change my delivery address for my {product} order?",
        "My electricity meter reading is wrong on the last bill.",
        "The driver left my {product} outside in the rain.",
        "I was charged for a {company} plan I never signed up for, can you refund me?",
        "How do I upgrade my mobile contract to get a new {product}?",
        "I need to reschedule my boiler service appointment.",
        "My loyalty points from {company} didn't show up after my last purchase.",
        "My insurance claim for the car accident has been pending for {n} weeks.",
        "I forgot my password for the {company} app and the reset email never comes.",
        "The restaurant got my order wrong and I want my money back.",
        "When does the {company} sale start?",
        "Can you tell me if the {product} is in stock in your {city} store?",
    ],
    "automated": [
        "I am out of the office until {day} with limited access to email. For urgent matters contact {name}.",
        "Automatic reply: thank you for your message, we will get back to you within {n} working days.",
        "Your weekly newsletter: {n} tips for a productive week.",
        "Your parcel from {company} has been dispatched and will arrive {day}.",
        "Invoice #{n}4{n}7 from Office Supplies Ltd is attached, payment due in 30 days.",
        "Delivery Status Notification (Failure): the message could not be delivered to the recipient.",
        "Reminder: your dentist appointment is {day} at 10:30.",
        "This is a system-generated message. Please do not reply to this email.",
        "You have a new voicemail from {name}, duration 0:{n}5.",
        "Meeting invitation: quarterly review {day} at 14:00, please accept or decline.",
    ],
}

KINDS: tuple[str, ...] = tuple(_TEMPLATES)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(**{key: rng.choice(values) for key, values in _SLOTS.items()})


def generate(n_per_kind: int = 60, seed: int = 0) -> list[tuple[str, str]]:
    """``n_per_kind`` distinct messages of every kind, as ``(kind, text)``.

    Each template is used in turn (so every one appears), with its slots filled at
    random; a kind with fewer distinct fills than asked for gives what it has.
    """
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for kind, templates in _TEMPLATES.items():
        seen: set[str] = set()
        for attempt in range(n_per_kind * 20):
            if len(seen) >= n_per_kind:
                break
            text = _fill(templates[attempt % len(templates)], rng)
            if rng.random() < 0.2:
                text = text.lower()
            if text not in seen:
                seen.add(text)
                out.append((kind, text))
    return out
