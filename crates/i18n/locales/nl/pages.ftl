# Woorden die op elke pagina staan.
brand = Passerelle
sandbox-banner = itsme®-sandbox — een testomgeving met verzonnen personen. Er wordt geen echte identiteit gebruikt.
page-error-title = Er is iets misgelopen
page-error-back = Ga terug naar de website waar u vandaan kwam en begin opnieuw.
page-continue = Doorgaan
page-language = Taal

# De pagina's van de broker.
broker-error-title = Deze aanmelding kan niet verder
broker-error-intro = De website die u hierheen stuurde, deed een verzoek dat Passerelle niet kan uitvoeren:
broker-error-expired = Deze aanmelding is al afgerond, of ze duurde te lang en is verlopen.
broker-error-browser = Deze aanmelding is in een andere browser gestart. Ga terug naar de browser waarin u begon: daar gaat ze vanzelf verder. U kunt deze pagina sluiten.
broker-error-internal = Er trad een interne fout op. Probeer het zo dadelijk opnieuw.
broker-error-client-gone = De website waar u vandaan kwam, is niet langer bij Passerelle geregistreerd of aanvaardt dit terugkeeradres niet meer.
form-post-title = Terug naar de website
form-post-intro = U wordt teruggestuurd naar de website. Gebeurt er niets, klik dan op Doorgaan.

# De telefoonpagina van de sandbox (desktop).
phone-title = Bevestigen met itsme
phone-intro = { $client } wil met itsme bevestigen wie u bent. Vul het gsm-nummer van uw itsme-account in.
phone-label = Gsm-nummer
phone-hint = Met de landcode, bijvoorbeeld +32 470 00 00 01.
phone-personas-link = Bekijk de testpersonen.
phone-submit = Doorgaan
phone-cancel = Annuleren
phone-unknown = Geen enkel itsme-account in de sandbox heeft dit nummer. Controleer het, of kies een nummer uit de lijst met testpersonen.
phone-invalid = Dit is geen gsm-nummer. Vul het in met de landcode, bijvoorbeeld +32 470 00 00 01.
phone-already = Dit verzoek is al verder gegaan.

# De wachtpagina van de sandbox.
wait-title = Bevestig in de itsme-app
wait-intro = We stuurden een verzoek naar de itsme-app van { $phone }. Open de app op uw gsm en bevestig met uw itsme-code.
wait-open-app = Open de itsme-app van de sandbox
wait-open-app-note = (opent in een nieuw tabblad, alsof het uw gsm is)
wait-note = Deze pagina gaat vanzelf verder zodra u in de app antwoordt.
wait-check = Nu controleren

# De nagebootste itsme-app van de sandbox.
app-title = itsme-app (sandbox)
app-for = Account { $phone }
app-asks-authentication = { $client } wil u aanmelden.
app-asks-identification = { $client } wil u identificeren en vraagt:
app-nothing-more = Alleen uw itsme-identificatie wordt gedeeld.
app-code-label = Uw itsme-code van 5 cijfers
app-approve = Bevestigen
app-refuse = Weigeren
app-wrong-code = { $left ->
    [one] Verkeerde code. U hebt nog één poging.
   *[other] Verkeerde code. U hebt nog { $left } pogingen.
}
app-approved = Bevestigd. Ga terug naar uw browser: die gaat vanzelf verder.
app-refused = U hebt het verzoek geweigerd. Ga terug naar uw browser.
app-timed-out = Dit verzoek is verlopen voordat het beantwoord werd.
app-blocked = Er werd drie keer een verkeerde code ingevoerd, dus deze itsme-account is geblokkeerd.
app-finished = Dit verzoek is afgerond.
app-pending-none = Er staat geen verzoek open voor dit account.

# Gegevens, zoals de app ze toont.
attr-name = Naam
attr-given_name = Voornamen
attr-family_name = Familienaam
attr-gender = Geslacht
attr-birthdate = Geboortedatum
attr-locale = Taal
attr-email = E-mailadres
attr-phone_number = Gsm-nummer
attr-address = Wettelijk adres
attr-national_number = Rijksregisternummer
attr-eid_card_number = Nummer van de identiteitskaart
attr-document = Nummer en soort van het identiteitsdocument
attr-issuing_country = Land dat het document uitreikte
attr-validity = Geldigheid van het identiteitsdocument
attr-issuance_locality = Plaats waar het document werd uitgereikt
attr-read_date = Datum waarop het identiteitsdocument het laatst werd gelezen
attr-place_of_birth = Geboorteplaats
attr-nationality = Nationaliteit
attr-photo = Foto
attr-birthdate_as_string = Geboortedatum zoals op het document
attr-official_gender = Geslacht zoals op het document

# De lijst met testpersonen van de sandbox.
personas-title = Testpersonen van de sandbox
personas-intro = Deze verzonnen personen hebben een itsme-account in de sandbox. Typ een gsm-nummer op de telefoonpagina; personen met "manual" wachten op u in de itsme-app van de sandbox, waar u met hun code bevestigt.
personas-caption = approve, refuse, timeout en blocked antwoorden vanzelf; manual wacht op u.
personas-phone = Gsm-nummer
personas-country = Document
personas-behaviour = Gedrag
personas-code = itsme-code
personas-who = Naam

# Verzoeken die niet te vertrouwen zijn (getoond als pagina, nooit doorgestuurd).
error-repeated-parameter = De parameter { $name } komt meer dan één keer voor.
error-nul-parameter = De parameter { $name } bevat een teken dat niet is toegestaan.
error-rate-limited = { $seconds ->
    [one] Te veel pogingen van hieruit. Wacht één seconde en probeer opnieuw.
   *[other] Te veel pogingen van hieruit. Wacht { $seconds } seconden en probeer opnieuw.
}
error-missing-client-id = Het verzoek heeft geen client_id. De website moet de client_id sturen die ze bij haar registratie kreeg.
error-unknown-client = Er is geen client met deze client_id bij Passerelle geregistreerd.
error-request-refused = Het verzoek van de website kon niet worden aanvaard ({ $code }): { $description }
error-missing-redirect-uri = Het verzoek heeft geen redirect_uri. De website moet een van de voor haar geregistreerde redirect-URI's sturen.
error-unregistered-redirect-uri = Deze redirect_uri is niet voor deze client geregistreerd. Ze moet teken voor teken gelijk zijn aan een geregistreerde URI.
error-unavailable = Deze dienst is tijdelijk niet beschikbaar. Wacht enkele seconden en probeer het opnieuw.
sandbox-error-unknown-client = Deze client is niet geregistreerd bij de itsme-sandbox.
sandbox-error-request-object = Het request object is niet geldig. Technisch detail: { $detail }
sandbox-error-request-object-required = Net als itsme aanvaardt deze sandbox een autorisatieverzoek alleen als een request object dat de client ondertekend en daarna voor de sandbox versleuteld heeft.
sandbox-error-request-object-mismatch = De parameter { $name } verschilt tussen de query en het request object.
sandbox-error-request-used = Dit verzoek aan de itsme-sandbox werd al gebruikt. Ga terug naar de website waar u vandaan kwam en begin opnieuw.
broker-unserved-title = Aanmelden met itsme is hier niet beschikbaar
broker-unserved-body = { $client } kan u nog niet laten aanmelden met itsme: deze dienst is niet verbonden met een echte itsme-omgeving. Er werden geen gegevens over u gedeeld.
broker-unserved-back = Terug naar { $client }

# The same-device path, the QR code, the verification icon and biometrics (sandbox).
open-title = itsme openen
open-intro = { $client } wil met itsme bevestigen wie u bent. Open de itsme-app op deze telefoon om verder te gaan.
open-button = itsme openen
open-note = De itsme-app van de sandbox opent in deze browser, zoals de echte app op uw telefoon.
device-title = Van wie is deze telefoon?
device-intro = De itsme-app van de sandbox is in deze browser nog niet ingesteld. Kies de testpersoon van deze telefoon: de app onthoudt die tot u hem wijzigt.
device-legend = Testpersonen
device-submit = Deze persoon gebruiken
device-choose = Kies een van de testpersonen.
qr-title = Of scan de QR-code
qr-alt = QR-code om met de itsme-app te scannen
qr-note = Scan ze met de itsme-app op uw telefoon. Ze verandert elke 30 seconden.
qr-open-link = Open de link van de code in een nieuw tabblad (alsof ze gescand werd).
qr-scanned = Ik heb de code gescand: wachten op de app
qr-wait-intro = Scan de QR-code met de itsme-app en bevestig daarna in de app.
qr-expired = Deze QR-code is verlopen. Scan de nieuwe code op de pagina waar u begon.
wait-icon = Controleer in de app dat u hetzelfde icoon ziet: { $icon }.
app-icon = Controleer dat uw browser hetzelfde icoon toont: { $icon }.
icon-star = een ster
icon-heart = een hart
icon-sun = een zon
icon-umbrella = een paraplu
icon-clover = een klaverblad
icon-diamond = een ruit
icon-music = muzieknoten
icon-plane = een vliegtuig
app-change-person = Niet u? Wijzig de persoon
app-return = Terug naar { $client }
app-biometrics-note = U kunt bevestigen met uw vingerafdruk of uw gezicht, of hieronder met uw itsme-code.
app-fingerprint = Bevestigen met vingerafdruk
app-face = Bevestigen met gezicht
app-code-required = Dit verzoek vraagt uw itsme-code: een vingerafdruk of gezicht volstaat niet.
app-binding = Bericht van de aanvrager:
app-not-yours = Dit verzoek is voor een andere itsme-account dan die op deze telefoon.

inbox-title = Inbox van de itsme-app (sandbox)
inbox-intro = De verzoeken die in de itsme-app van een sandboxpersoon wachten. Vul het gsm-nummer in om ze te zien.
inbox-phone-label = Gsm-nummer
inbox-show = Toon de verzoeken
inbox-empty = Er wacht geen verzoek voor dit nummer.
inbox-open = Openen
inbox-from = Van { $client }
app-binding-message = Controleer of uw scherm hetzelfde bericht toont: { $message }
discover-title = Scannen met de itsme-app (sandbox)
discover-intro = U scande een QR-code. De itsme-app van welke sandboxpersoon scant ze? Vul het gsm-nummer in.
discover-submit = Scannen
discover-done = Klaar: de itsme-app heeft u geïdentificeerd. Ga terug naar waar de code getoond werd.
discover-expired = Deze QR-code is verlopen of werd al gescand. Scan de nieuwe.
app-approved-decoupled = Bevestigd. De dienst die het vroeg, krijgt nu uw antwoord; u kunt de app sluiten.
done-title = Klaar
done-elsewhere = Deze aanmelding is afgerond, in de browser waarin ze begon. U kunt deze pagina sluiten.

## Signing (the signer's pages of the signing API)
sign-title = Documenten ondertekenen met itsme
sign-intro = { $sender } vraagt u { $count ->
    [one] één document
   *[other] { $count } documenten
    } te ondertekenen.
sign-documents = Documenten
sign-document-detail = { $kind }, { $size }
sign-document-view-only = alleen ter inzage
sign-flow-qualified = U ondertekent met een gekwalificeerde elektronische handtekening in de itsme-app. U bevestigt twee keer: eerst uw itsme-ondertekeningsaccount, daarna deze documenten, allemaal tegelijk, met uw itsme-code.
sign-flow-advanced = U bevestigt met itsme wie u bent. Passerelle verzegelt deze documenten daarna in uw naam (een geavanceerde elektronische handtekening die de door itsme gecontroleerde identiteit en het tijdstip vastlegt).
sign-agree = Ik heb de documenten gelezen en ik ga akkoord om ze te ondertekenen.
sign-button = Ondertekenen met itsme
sign-decline = Weigeren
sign-agree-missing = Vink het vakje aan om te bevestigen dat u de documenten gelezen hebt en ze wilt ondertekenen.
sign-form-stale = Deze pagina is verouderd of werd in een andere browser geopend. Open de ondertekeningslink opnieuw.
sign-unknown = Dit ondertekeningsverzoek bestaat niet of is niet meer beschikbaar.
sign-done-title = Ondertekend
sign-done = Deze documenten zijn ondertekend. U kunt deze pagina sluiten.
sign-rejected-title = Geweigerd
sign-rejected = Deze documenten werden niet ondertekend: de ondertekening werd geweigerd.
sign-expired = Dit ondertekeningsverzoek is verlopen voor het ondertekend werd.
sign-blocked = Dit ondertekeningsverzoek is nog niet open: eerst moet iemand anders ondertekenen.
sign-busy = Deze documenten worden op dit moment ondertekend. Wacht even en open de ondertekeningslink daarna opnieuw.
sign-not-offered = { $client } kan dit soort handtekening hier niet vragen: het is niet ingesteld op deze Passerelle. Er werd niets ondertekend.
sign-wrong-person = Dit ondertekeningsverzoek is voor iemand anders. Er werd niets ondertekend.
sign-error-browser = Deze ondertekening werd in een andere browser gestart. Ga terug naar die browser en probeer het daar opnieuw.
sign-error-scheme = itsme kon de ondertekening niet voltooien. Er werd niets ondertekend; u kunt het opnieuw proberen.
sign-error-documents = De documenten van dit ondertekeningsverzoek zijn niet meer beschikbaar. Er werd niets ondertekend.
sign-try-again = Opnieuw proberen
# itsme's signing service (CSC): the two authorizations in the browser and the app.
csc-phone-intro = { $client } wil uw itsme-ondertekeningsaccount gebruiken. Vul het gsm-nummer van uw itsme-account in.
csc-open-intro-service = { $client } wil uw itsme-ondertekeningsaccount gebruiken. Open de itsme-app op deze telefoon om verder te gaan.
csc-open-intro-credential = { $client } vraagt u te ondertekenen met itsme. Open de itsme-app op deze telefoon om verder te gaan.
csc-app-asks-service = { $client } wil uw itsme-ondertekeningsaccount gebruiken.
csc-app-asks-credential = { $client } vraagt u te ondertekenen met uw gekwalificeerd certificaat.
csc-app-create-cert = Dit is uw eerste handtekening met itsme: als u bevestigt, wordt uw gekwalificeerd certificaat voor elektronische handtekeningen aangemaakt. In deze sandbox dient het certificaat alleen om te testen.
csc-app-service-known = Elke handtekening wordt u afzonderlijk gevraagd.
csc-app-description = Beschrijving
csc-app-documents-label = Te ondertekenen
csc-app-documents = { $count ->
    [one] Eén document
   *[other] { $count } documenten
}
csc-error-not-registered = Deze client is in de sandbox niet geregistreerd voor ondertekenen met itsme.
sign-app-description = { $client }: { $title } ({ $count ->
    [one] één document
   *[other] { $count } documenten
    })
logout-title = U bent afgemeld
logout-done = U bent afgemeld. itsme houdt zelf geen sessie bij: er valt niets anders af te sluiten. U kunt deze pagina sluiten.
logout-done-client = U bent afgemeld bij { $client }: wat deze aanmelding opleverde, werkt niet meer. itsme houdt zelf geen sessie bij: er valt niets anders af te sluiten. U kunt deze pagina sluiten.
logout-error-title = Afmelden kan niet verdergaan
logout-error-hint = De id_token_hint is geen ID-token dat Passerelle heeft uitgegeven.
logout-error-client-mismatch = De client_id is niet de client waarvoor de id_token_hint werd uitgegeven.
logout-error-unknown-client = Er is geen client met deze client_id geregistreerd bij Passerelle.
logout-error-redirect-needs-client = Een post_logout_redirect_uri heeft de client nodig waartoe hij behoort: stuur id_token_hint of client_id mee.
logout-error-redirect-unregistered = De post_logout_redirect_uri is niet geregistreerd voor deze client. Hij moet teken voor teken overeenkomen met een geregistreerde URI.
