# Words shared by every page.
brand = Passerelle
sandbox-banner = itsme® sandbox — a test environment with made-up people. No real identity is used.
page-error-title = Something went wrong
page-error-back = Go back to the website you came from and start again.
page-continue = Continue
page-language = Language

# The broker's pages.
broker-error-title = This login cannot continue
broker-error-intro = The website that sent you here made a request that Passerelle cannot serve:
broker-error-expired = This login has already been completed, or it took too long and expired.
broker-error-browser = This login was started in another browser. Go back to the browser where you started it: it continues there by itself. You can close this page.
broker-error-internal = An internal error occurred. Please try again in a moment.
form-post-title = Returning to the website
form-post-intro = You are being sent back to the website. If nothing happens, press Continue.

# The sandbox's phone page (desktop path).
phone-title = Confirm with itsme
phone-intro = { $client } wants to confirm who you are with itsme. Enter the mobile number of your itsme account.
phone-label = Mobile phone number
phone-hint = With the country code, for example +32 470 00 00 01.
phone-submit = Continue
phone-cancel = Cancel
phone-unknown = No itsme account in the sandbox has this number. Check it, or pick a number from the list of sandbox personas.
phone-invalid = This is not a mobile phone number. Enter it with its country code, for example +32 470 00 00 01.
phone-already = This request has already moved on.

# The sandbox's waiting page.
wait-title = Confirm in the itsme app
wait-intro = We sent a request to the itsme app of { $phone }. Open the app on your phone and confirm with your itsme code.
wait-open-app = Open the sandbox itsme app
wait-open-app-note = (opens in a new tab, as if on your phone)
wait-note = This page moves on by itself as soon as you answer in the app.
wait-check = Check now

# The sandbox's itsme app emulator.
app-title = itsme app (sandbox)
app-for = Account { $phone }
app-asks-authentication = { $client } wants to log you in.
app-asks-identification = { $client } wants to identify you and asks for:
app-nothing-more = Only your itsme identifier is shared.
app-code-label = Your 5-digit itsme code
app-approve = Confirm
app-refuse = Refuse
app-wrong-code = { $left ->
    [one] Wrong code. You have one attempt left.
   *[other] Wrong code. You have { $left } attempts left.
}
app-approved = Confirmed. Go back to your browser: it continues by itself.
app-refused = You refused the request. Go back to your browser.
app-timed-out = This request expired before it was answered.
app-blocked = The wrong code was entered three times, so this itsme account is blocked.
app-finished = This request is finished.
app-pending-none = There is no pending request for this account.

# Attributes, as the app lists them.
attr-name = Name
attr-given_name = First names
attr-family_name = Family name
attr-gender = Sex
attr-birthdate = Date of birth
attr-locale = Language
attr-email = Email address
attr-phone_number = Mobile phone number
attr-address = Legal address
attr-national_number = National register number
attr-eid_card_number = Identity card number
attr-document = Identity document number and type
attr-issuing_country = Country that issued the document
attr-validity = Validity of the identity document
attr-issuance_locality = Place where the document was issued
attr-read_date = Date the identity document was last read
attr-place_of_birth = Place of birth
attr-nationality = Nationality
attr-photo = Photo
attr-birthdate_as_string = Date of birth as written on the document
attr-official_gender = Sex as written on the document

# The sandbox's list of test people.
phone-personas-link = See the test people.
personas-title = Sandbox test people
personas-intro = These made-up people have an itsme account in the sandbox. Type a phone number on the phone page; people marked manual wait for you in the sandbox itsme app, where you confirm with their code.
personas-caption = approve, refuse, timeout and blocked answer by themselves; manual waits for you.
personas-phone = Phone number
personas-country = Document
personas-behaviour = Behaviour
personas-code = itsme code
personas-who = Name
broker-error-client-gone = The website you came from is no longer registered with Passerelle, or no longer accepts this return address.

# Requests that cannot be trusted (shown as a page, never redirected).
error-repeated-parameter = The parameter { $name } appears more than once.
error-nul-parameter = The parameter { $name } contains a character that is not allowed.
error-rate-limited = { $seconds ->
    [one] Too many attempts from here. Wait one second and try again.
   *[other] Too many attempts from here. Wait { $seconds } seconds and try again.
}
error-missing-client-id = The request has no client_id. The website must send the client_id it was given when it was registered.
error-unknown-client = No client with this client_id is registered with Passerelle.
error-request-refused = The website's request could not be accepted ({ $code }): { $description }
error-missing-redirect-uri = The request has no redirect_uri. The website must send one of the redirect URIs registered for it.
error-unregistered-redirect-uri = The redirect_uri is not registered for this client. It must match a registered URI exactly, character for character.
error-unavailable = This service is temporarily unavailable. Wait a few seconds and try again.
sandbox-error-unknown-client = This client is not registered with the itsme sandbox.
sandbox-error-request-object = The request object is not valid. Technical detail: { $detail }
sandbox-error-request-object-required = Like itsme, this sandbox accepts an authorization request only as a request object that the client signed and then encrypted to the sandbox.
sandbox-error-request-object-mismatch = The parameter { $name } differs between the query and the request object.
sandbox-error-request-used = This request to the itsme sandbox was already used. Go back to the website you came from and start again.
broker-unserved-title = Logging in with itsme is not available here
broker-unserved-body = { $client } cannot log you in with itsme yet: this service is not connected to a real itsme environment. Nothing about you has been shared.
broker-unserved-back = Return to { $client }

# The same-device path, the QR code, the verification icon and biometrics (sandbox).
open-title = Open itsme
open-intro = { $client } wants to confirm who you are with itsme. Open the itsme app on this phone to continue.
open-button = Open itsme
open-note = The sandbox's itsme app opens in this browser, as the real app would on your phone.
device-title = Whose phone is this?
device-intro = The sandbox's itsme app is not set up on this browser yet. Choose the test person this phone belongs to: the app remembers it until you change it.
device-legend = Test people
device-submit = Use this person
device-choose = Choose one of the test people.
qr-title = Or scan the QR code
qr-alt = QR code to scan with the itsme app
qr-note = Scan it with the itsme app on your phone. It changes every 30 seconds.
qr-open-link = Open the code's link in a new tab (as if scanned).
qr-scanned = I scanned the code: wait for the app
qr-wait-intro = Scan the QR code with the itsme app, then confirm in the app.
qr-expired = This QR code has expired. Scan the new code on the page where you started.
wait-icon = In the app, check that you see the same icon: { $icon }.
app-icon = Check that your browser shows the same icon: { $icon }.
icon-star = a star
icon-heart = a heart
icon-sun = a sun
icon-umbrella = an umbrella
icon-clover = a clover
icon-diamond = a diamond
icon-music = musical notes
icon-plane = an aeroplane
app-change-person = Not you? Change the person
app-return = Return to { $client }
app-biometrics-note = You can confirm with your fingerprint or your face, or with your itsme code below.
app-fingerprint = Confirm with fingerprint
app-face = Confirm with face
app-code-required = This request asks for your itsme code: a fingerprint or face is not enough.
app-binding = Message from the requester:
app-not-yours = This request is for another itsme account than the one on this phone.

inbox-title = itsme app inbox (sandbox)
inbox-intro = The requests waiting in the itsme app of a sandbox person. Enter the phone number to see them.
inbox-phone-label = Mobile phone number
inbox-show = Show the requests
inbox-empty = No request is waiting for this number.
inbox-open = Open
inbox-from = From { $client }
app-binding-message = Check that your screen shows the same message: { $message }
discover-title = Scan with the itsme app (sandbox)
discover-intro = You scanned a QR code. Which sandbox person's itsme app is scanning it? Enter their phone number.
discover-submit = Scan
discover-done = Done: the itsme app identified you. Go back to where the code was shown.
discover-expired = This QR code has expired or was already scanned. Scan the new one.
app-approved-decoupled = Confirmed. The service that asked now receives your answer; you can close the app.
done-title = Done
done-elsewhere = This login is complete: it finished in the browser where it started. You can close this page.

## Signing (the signer's pages of the signing API)
sign-title = Sign documents with itsme
sign-intro = { $sender } asks you to sign { $count ->
    [one] one document
   *[other] { $count } documents
    }.
sign-documents = Documents
sign-document-detail = { $kind }, { $size }
sign-document-view-only = for reading only
sign-flow-qualified = You sign with a qualified electronic signature in the itsme app. You approve twice: first your itsme signing account, then these documents, all at once, with your itsme code.
sign-flow-advanced = You confirm who you are with itsme. Passerelle then seals these documents in your name (an advanced electronic signature recording the identity itsme verified and the time).
sign-agree = I have read the documents and I agree to sign them.
sign-button = Sign with itsme
sign-decline = Decline
sign-agree-missing = Tick the box to confirm that you read the documents and agree to sign them.
sign-form-stale = This page is out of date or was opened in another browser. Open the signing link again.
sign-unknown = This signing request does not exist or is no longer available.
sign-done-title = Signed
sign-done = These documents have been signed. You can close this page.
sign-rejected-title = Declined
sign-rejected = These documents were not signed: the signing was declined.
sign-expired = This signing request expired before it was signed.
sign-blocked = This signing request is not open yet: it waits for another person to sign first.
sign-busy = These documents are being signed right now. Wait a moment, then open the signing link again.
sign-not-offered = { $client } cannot ask for this kind of signature here: it is not configured on this Passerelle. Nothing was signed.
sign-wrong-person = This signing request is for another person. Nothing was signed.
sign-error-browser = This signing was started in another browser. Go back to the browser where you started it and try again there.
sign-error-scheme = itsme could not complete the signing. Nothing was signed; you can try again.
sign-error-documents = The documents of this signing request are no longer available. Nothing was signed.
sign-try-again = Try again
# itsme's signing service (CSC): the two authorizations in the browser and the app.
csc-phone-intro = { $client } wants to use your itsme signing account. Enter the mobile number of your itsme account.
csc-open-intro-service = { $client } wants to use your itsme signing account. Open the itsme app on this phone to continue.
csc-open-intro-credential = { $client } asks you to sign with itsme. Open the itsme app on this phone to continue.
csc-app-asks-service = { $client } wants to use your itsme signing account.
csc-app-asks-credential = { $client } asks you to sign with your qualified certificate.
csc-app-create-cert = This is your first signature with itsme: confirming creates your qualified certificate for electronic signatures. In this sandbox, the certificate is for testing only.
csc-app-service-known = You will be asked to confirm each signature separately.
csc-app-description = Description
csc-app-documents-label = To sign
csc-app-documents = { $count ->
    [one] One document
   *[other] { $count } documents
}
csc-error-not-registered = This client is not registered for itsme signing in the sandbox.
sign-app-description = { $client }: { $title } ({ $count ->
    [one] one document
   *[other] { $count } documents
    })
logout-title = You are signed out
logout-done = You are signed out. itsme keeps no session of its own: there is nothing else to end. You can close this page.
logout-done-client = You are signed out of { $client }: what this login gave it no longer works. itsme keeps no session of its own: there is nothing else to end. You can close this page.
logout-error-title = Signing out cannot continue
logout-error-hint = The id_token_hint is not an ID token that Passerelle issued.
logout-error-client-mismatch = The client_id is not the client the id_token_hint was issued to.
logout-error-unknown-client = No client with this client_id is registered with Passerelle.
logout-error-redirect-needs-client = A post_logout_redirect_uri needs the client it belongs to: send id_token_hint or client_id.
logout-error-redirect-unregistered = The post_logout_redirect_uri is not registered for this client. It must match a registered URI exactly, character for character.
