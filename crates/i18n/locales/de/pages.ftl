# Wörter, die auf jeder Seite stehen.
brand = Passerelle
sandbox-banner = itsme®-Sandbox — eine Testumgebung mit erfundenen Personen. Es wird keine echte Identität verwendet.
page-error-title = Etwas ist schiefgelaufen
page-error-back = Gehen Sie zurück zur Website, von der Sie kamen, und beginnen Sie erneut.
page-continue = Weiter
page-language = Sprache

# Die Seiten des Brokers.
broker-error-title = Diese Anmeldung kann nicht fortgesetzt werden
broker-error-intro = Die Website, die Sie hierher geschickt hat, stellte eine Anfrage, die Passerelle nicht bearbeiten kann:
broker-error-expired = Diese Anmeldung ist bereits abgeschlossen, oder sie hat zu lange gedauert und ist abgelaufen.
broker-error-browser = Diese Anmeldung wurde in einem anderen Browser begonnen. Gehen Sie zurück zu dem Browser, in dem Sie begonnen haben: Dort geht sie von selbst weiter. Sie können diese Seite schließen.
broker-error-internal = Ein interner Fehler ist aufgetreten. Bitte versuchen Sie es gleich noch einmal.
broker-error-client-gone = Die Website, von der Sie kamen, ist nicht mehr bei Passerelle registriert oder akzeptiert diese Rücksprungadresse nicht mehr.
form-post-title = Zurück zur Website
form-post-intro = Sie werden zur Website zurückgeschickt. Wenn nichts passiert, klicken Sie auf Weiter.

# Die Telefonseite der Sandbox (Desktop).
phone-title = Mit itsme bestätigen
phone-intro = { $client } möchte mit itsme bestätigen, wer Sie sind. Geben Sie die Handynummer Ihres itsme-Kontos ein.
phone-label = Handynummer
phone-hint = Mit Ländervorwahl, zum Beispiel +32 470 00 00 01.
phone-personas-link = Die Testpersonen ansehen.
phone-submit = Weiter
phone-cancel = Abbrechen
phone-unknown = Kein itsme-Konto in der Sandbox hat diese Nummer. Prüfen Sie sie, oder wählen Sie eine Nummer aus der Liste der Testpersonen.
phone-invalid = Das ist keine Handynummer. Geben Sie sie mit Ländervorwahl ein, zum Beispiel +32 470 00 00 01.
phone-already = Diese Anfrage ist bereits weitergegangen.

# Die Warteseite der Sandbox.
wait-title = In der itsme-App bestätigen
wait-intro = Wir haben eine Anfrage an die itsme-App von { $phone } geschickt. Öffnen Sie die App auf Ihrem Handy und bestätigen Sie mit Ihrem itsme-Code.
wait-open-app = Die itsme-App der Sandbox öffnen
wait-open-app-note = (öffnet sich in einem neuen Tab, als wäre es Ihr Handy)
wait-note = Diese Seite geht von selbst weiter, sobald Sie in der App antworten.
wait-check = Jetzt prüfen

# Die nachgebildete itsme-App der Sandbox.
app-title = itsme-App (Sandbox)
app-for = Konto { $phone }
app-asks-authentication = { $client } möchte Sie anmelden.
app-asks-identification = { $client } möchte Sie identifizieren und fragt nach:
app-nothing-more = Nur Ihre itsme-Kennung wird geteilt.
app-code-label = Ihr 5-stelliger itsme-Code
app-approve = Bestätigen
app-refuse = Ablehnen
app-wrong-code = { $left ->
    [one] Falscher Code. Sie haben noch einen Versuch.
   *[other] Falscher Code. Sie haben noch { $left } Versuche.
}
app-approved = Bestätigt. Gehen Sie zurück zu Ihrem Browser: Er macht von selbst weiter.
app-refused = Sie haben die Anfrage abgelehnt. Gehen Sie zurück zu Ihrem Browser.
app-timed-out = Diese Anfrage ist abgelaufen, bevor sie beantwortet wurde.
app-blocked = Es wurde dreimal ein falscher Code eingegeben, daher ist dieses itsme-Konto gesperrt.
app-finished = Diese Anfrage ist abgeschlossen.
app-pending-none = Für dieses Konto liegt keine Anfrage vor.

# Die Daten, wie die App sie zeigt.
attr-name = Name
attr-given_name = Vornamen
attr-family_name = Nachname
attr-gender = Geschlecht
attr-birthdate = Geburtsdatum
attr-locale = Sprache
attr-email = E-Mail-Adresse
attr-phone_number = Handynummer
attr-address = Gesetzliche Adresse
attr-national_number = Nationalregisternummer
attr-eid_card_number = Nummer des Personalausweises
attr-document = Nummer und Art des Ausweisdokuments
attr-issuing_country = Land, das das Dokument ausgestellt hat
attr-validity = Gültigkeit des Ausweisdokuments
attr-issuance_locality = Ort, an dem das Dokument ausgestellt wurde
attr-read_date = Datum, an dem das Ausweisdokument zuletzt gelesen wurde
attr-place_of_birth = Geburtsort
attr-nationality = Staatsangehörigkeit
attr-photo = Foto
attr-birthdate_as_string = Geburtsdatum wie auf dem Dokument
attr-official_gender = Geschlecht wie auf dem Dokument

# Die Liste der Testpersonen der Sandbox.
personas-title = Testpersonen der Sandbox
personas-intro = Diese erfundenen Personen haben ein itsme-Konto in der Sandbox. Geben Sie auf der Telefonseite eine Handynummer ein; Personen mit „manual“ warten in der itsme-App der Sandbox auf Sie, wo Sie mit ihrem Code bestätigen.
personas-caption = approve, refuse, timeout und blocked antworten von selbst; manual wartet auf Sie.
personas-phone = Handynummer
personas-country = Dokument
personas-behaviour = Verhalten
personas-code = itsme-Code
personas-who = Name

# Anfragen, denen nicht zu trauen ist (als Seite gezeigt, nie weitergeleitet).
error-repeated-parameter = Der Parameter { $name } kommt mehr als einmal vor.
error-nul-parameter = Der Parameter { $name } enthält ein unzulässiges Zeichen.
error-rate-limited = { $seconds ->
    [one] Zu viele Versuche von hier. Warten Sie eine Sekunde und versuchen Sie es erneut.
   *[other] Zu viele Versuche von hier. Warten Sie { $seconds } Sekunden und versuchen Sie es erneut.
}
error-missing-client-id = Die Anfrage hat keine client_id. Die Website muss die client_id senden, die sie bei ihrer Registrierung erhalten hat.
error-unknown-client = Bei Passerelle ist kein Client mit dieser client_id registriert.
error-request-refused = Die Anfrage der Website konnte nicht angenommen werden ({ $code }): { $description }
error-missing-redirect-uri = Die Anfrage hat keine redirect_uri. Die Website muss eine der für sie registrierten Redirect-URIs senden.
error-unregistered-redirect-uri = Diese redirect_uri ist für diesen Client nicht registriert. Sie muss Zeichen für Zeichen mit einer registrierten URI übereinstimmen.
error-unavailable = Dieser Dienst ist vorübergehend nicht verfügbar. Warten Sie einige Sekunden und versuchen Sie es erneut.
sandbox-error-unknown-client = Dieser Client ist bei der itsme-Sandbox nicht registriert.
sandbox-error-request-object = Das Request-Objekt ist nicht gültig. Technisches Detail: { $detail }
sandbox-error-request-object-required = Wie itsme akzeptiert diese Sandbox eine Autorisierungsanfrage nur als Request-Objekt, das der Client signiert und dann für die Sandbox verschlüsselt hat.
sandbox-error-request-object-mismatch = Der Parameter { $name } unterscheidet sich zwischen der Anfrage und dem Request-Objekt.
sandbox-error-request-used = Diese Anfrage an die itsme-Sandbox wurde bereits verwendet. Gehen Sie zurück zur Website, von der Sie kamen, und beginnen Sie erneut.
broker-unserved-title = Die Anmeldung mit itsme ist hier nicht verfügbar
broker-unserved-body = { $client } kann Sie noch nicht mit itsme anmelden: Dieser Dienst ist mit keiner echten itsme-Umgebung verbunden. Es wurden keine Daten über Sie weitergegeben.
broker-unserved-back = Zurück zu { $client }

# The same-device path, the QR code, the verification icon and biometrics (sandbox).
open-title = itsme öffnen
open-intro = { $client } möchte mit itsme bestätigen, wer Sie sind. Öffnen Sie die itsme-App auf diesem Telefon, um fortzufahren.
open-button = itsme öffnen
open-note = Die itsme-App der Sandbox öffnet sich in diesem Browser, wie die echte App auf Ihrem Telefon.
device-title = Wem gehört dieses Telefon?
device-intro = Die itsme-App der Sandbox ist in diesem Browser noch nicht eingerichtet. Wählen Sie die Testperson, der dieses Telefon gehört: Die App merkt sie sich, bis Sie sie ändern.
device-legend = Testpersonen
device-submit = Diese Person verwenden
device-choose = Wählen Sie eine der Testpersonen.
qr-title = Oder scannen Sie den QR-Code
qr-alt = QR-Code zum Scannen mit der itsme-App
qr-note = Scannen Sie ihn mit der itsme-App auf Ihrem Telefon. Er ändert sich alle 30 Sekunden.
qr-open-link = Den Link des Codes in einem neuen Tab öffnen (als wäre er gescannt).
qr-scanned = Ich habe den Code gescannt: auf die App warten
qr-wait-intro = Scannen Sie den QR-Code mit der itsme-App und bestätigen Sie dann in der App.
qr-expired = Dieser QR-Code ist abgelaufen. Scannen Sie den neuen Code auf der Seite, auf der Sie begonnen haben.
wait-icon = Prüfen Sie in der App, dass Sie dasselbe Symbol sehen: { $icon }.
app-icon = Prüfen Sie, dass Ihr Browser dasselbe Symbol zeigt: { $icon }.
icon-star = ein Stern
icon-heart = ein Herz
icon-sun = eine Sonne
icon-umbrella = ein Regenschirm
icon-clover = ein Kleeblatt
icon-diamond = eine Raute
icon-music = Musiknoten
icon-plane = ein Flugzeug
app-change-person = Nicht Sie? Person ändern
app-return = Zurück zu { $client }
app-biometrics-note = Sie können mit Ihrem Fingerabdruck oder Ihrem Gesicht bestätigen, oder unten mit Ihrem itsme-Code.
app-fingerprint = Mit Fingerabdruck bestätigen
app-face = Mit Gesicht bestätigen
app-code-required = Diese Anfrage verlangt Ihren itsme-Code: Fingerabdruck oder Gesicht genügen nicht.
app-binding = Nachricht des Anfragenden:
app-not-yours = Diese Anfrage gilt einem anderen itsme-Konto als dem auf diesem Telefon.

inbox-title = Posteingang der itsme-App (Sandbox)
inbox-intro = Die Anfragen, die in der itsme-App einer Sandbox-Person warten. Geben Sie die Mobilnummer ein, um sie zu sehen.
inbox-phone-label = Mobilnummer
inbox-show = Anfragen anzeigen
inbox-empty = Für diese Nummer wartet keine Anfrage.
inbox-open = Öffnen
inbox-from = Von { $client }
app-binding-message = Prüfen Sie, ob Ihr Bildschirm dieselbe Nachricht zeigt: { $message }
discover-title = Mit der itsme-App scannen (Sandbox)
discover-intro = Sie haben einen QR-Code gescannt. Die itsme-App welcher Sandbox-Person scannt ihn? Geben Sie die Mobilnummer ein.
discover-submit = Scannen
discover-done = Fertig: Die itsme-App hat Sie identifiziert. Kehren Sie dorthin zurück, wo der Code angezeigt wurde.
discover-expired = Dieser QR-Code ist abgelaufen oder wurde bereits gescannt. Scannen Sie den neuen.
app-approved-decoupled = Bestätigt. Der anfragende Dienst erhält jetzt Ihre Antwort; Sie können die App schließen.
done-title = Fertig
done-elsewhere = Diese Anmeldung ist abgeschlossen, in dem Browser, in dem sie begonnen hat. Sie können diese Seite schließen.

## Signing (the signer's pages of the signing API)
sign-title = Dokumente mit itsme unterschreiben
sign-intro = { $sender } bittet Sie, { $count ->
    [one] ein Dokument
   *[other] { $count } Dokumente
    } zu unterschreiben.
sign-documents = Dokumente
sign-document-detail = { $kind }, { $size }
sign-document-view-only = nur zum Lesen
sign-flow-qualified = Sie unterschreiben mit einer qualifizierten elektronischen Signatur in der itsme-App. Sie bestätigen zweimal: zuerst Ihr itsme-Signaturkonto, dann diese Dokumente, alle zusammen, mit Ihrem itsme-Code.
sign-flow-advanced = Sie bestätigen mit itsme, wer Sie sind. Passerelle versiegelt diese Dokumente dann in Ihrem Namen (eine fortgeschrittene elektronische Signatur, die die von itsme geprüfte Identität und die Uhrzeit festhält).
sign-agree = Ich habe die Dokumente gelesen und bin einverstanden, sie zu unterschreiben.
sign-button = Mit itsme unterschreiben
sign-decline = Ablehnen
sign-agree-missing = Kreuzen Sie das Kästchen an, um zu bestätigen, dass Sie die Dokumente gelesen haben und sie unterschreiben wollen.
sign-form-stale = Diese Seite ist veraltet oder wurde in einem anderen Browser geöffnet. Öffnen Sie den Signaturlink erneut.
sign-unknown = Diese Signaturanfrage gibt es nicht oder sie ist nicht mehr verfügbar.
sign-done-title = Unterschrieben
sign-done = Diese Dokumente wurden unterschrieben. Sie können diese Seite schließen.
sign-rejected-title = Abgelehnt
sign-rejected = Diese Dokumente wurden nicht unterschrieben: die Unterschrift wurde abgelehnt.
sign-expired = Diese Signaturanfrage ist abgelaufen, bevor sie unterschrieben wurde.
sign-blocked = Diese Signaturanfrage ist noch nicht offen: zuerst muss eine andere Person unterschreiben.
sign-busy = Diese Dokumente werden gerade unterschrieben. Warten Sie einen Moment und öffnen Sie den Signaturlink dann erneut.
sign-not-offered = { $client } kann diese Art von Signatur hier nicht anfordern: sie ist auf diesem Passerelle nicht eingerichtet. Es wurde nichts unterschrieben.
sign-wrong-person = Diese Signaturanfrage ist für eine andere Person. Es wurde nichts unterschrieben.
sign-error-browser = Diese Unterschrift wurde in einem anderen Browser begonnen. Gehen Sie zu diesem Browser zurück und versuchen Sie es dort erneut.
sign-error-scheme = itsme konnte die Unterschrift nicht abschließen. Es wurde nichts unterschrieben; Sie können es erneut versuchen.
sign-error-documents = Die Dokumente dieser Signaturanfrage sind nicht mehr verfügbar. Es wurde nichts unterschrieben.
sign-try-again = Erneut versuchen
# itsme's signing service (CSC): the two authorizations in the browser and the app.
csc-phone-intro = { $client } möchte Ihr itsme-Signaturkonto verwenden. Geben Sie die Mobilnummer Ihres itsme-Kontos ein.
csc-open-intro-service = { $client } möchte Ihr itsme-Signaturkonto verwenden. Öffnen Sie die itsme-App auf diesem Telefon, um fortzufahren.
csc-open-intro-credential = { $client } bittet Sie, mit itsme zu unterschreiben. Öffnen Sie die itsme-App auf diesem Telefon, um fortzufahren.
csc-app-asks-service = { $client } möchte Ihr itsme-Signaturkonto verwenden.
csc-app-asks-credential = { $client } bittet Sie, mit Ihrem qualifizierten Zertifikat zu unterschreiben.
csc-app-create-cert = Dies ist Ihre erste Unterschrift mit itsme: Mit Ihrer Bestätigung wird Ihr qualifiziertes Zertifikat für elektronische Signaturen erstellt. In dieser Sandbox dient das Zertifikat nur zum Testen.
csc-app-service-known = Jede Unterschrift wird Ihnen einzeln zur Bestätigung vorgelegt.
csc-app-description = Beschreibung
csc-app-documents-label = Zu unterschreiben
csc-app-documents = { $count ->
    [one] Ein Dokument
   *[other] { $count } Dokumente
}
csc-error-not-registered = Dieser Client ist in der Sandbox nicht für das Unterschreiben mit itsme registriert.
sign-app-description = { $client }: { $title } ({ $count ->
    [one] ein Dokument
   *[other] { $count } Dokumente
    })
logout-title = Sie sind abgemeldet
logout-done = Sie sind abgemeldet. itsme führt selbst keine Sitzung: Es gibt nichts weiter zu beenden. Sie können diese Seite schließen.
logout-done-client = Sie sind bei { $client } abgemeldet: Was diese Anmeldung ergeben hat, funktioniert nicht mehr. itsme führt selbst keine Sitzung: Es gibt nichts weiter zu beenden. Sie können diese Seite schließen.
logout-error-title = Die Abmeldung kann nicht fortgesetzt werden
logout-error-hint = Der id_token_hint ist kein ID-Token, das Passerelle ausgestellt hat.
logout-error-client-mismatch = Die client_id ist nicht der Client, für den der id_token_hint ausgestellt wurde.
logout-error-unknown-client = Bei Passerelle ist kein Client mit dieser client_id registriert.
logout-error-redirect-needs-client = Eine post_logout_redirect_uri braucht den Client, zu dem sie gehört: Senden Sie id_token_hint oder client_id mit.
logout-error-redirect-unregistered = Die post_logout_redirect_uri ist für diesen Client nicht registriert. Sie muss Zeichen für Zeichen einer registrierten URI entsprechen.
