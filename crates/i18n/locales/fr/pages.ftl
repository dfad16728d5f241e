# Mots communs à toutes les pages.
brand = Passerelle
sandbox-banner = Bac à sable itsme® — un environnement de test avec des personnes fictives. Aucune identité réelle n'est utilisée.
page-error-title = Un problème est survenu
page-error-back = Retournez sur le site d'où vous venez et recommencez.
page-continue = Continuer
page-language = Langue

# Les pages du broker.
broker-error-title = Cette connexion ne peut pas continuer
broker-error-intro = Le site qui vous a envoyé ici a fait une demande que Passerelle ne peut pas traiter :
broker-error-expired = Cette connexion est déjà terminée, ou elle a pris trop de temps et a expiré.
broker-error-browser = Cette connexion a été commencée dans un autre navigateur. Retournez dans le navigateur où vous l'avez commencée : elle y continue d'elle-même. Vous pouvez fermer cette page.
broker-error-internal = Une erreur interne s'est produite. Réessayez dans un instant.
broker-error-client-gone = Le site d'où vous venez n'est plus enregistré auprès de Passerelle, ou n'accepte plus cette adresse de retour.
form-post-title = Retour vers le site
form-post-intro = Vous êtes renvoyé vers le site. Si rien ne se passe, cliquez sur Continuer.

# La page du numéro de téléphone du bac à sable (ordinateur).
phone-title = Confirmer avec itsme
phone-intro = { $client } veut confirmer votre identité avec itsme. Saisissez le numéro de GSM de votre compte itsme.
phone-label = Numéro de GSM
phone-hint = Avec l'indicatif du pays, par exemple +32 470 00 00 01.
phone-personas-link = Voir les personnes de test.
phone-submit = Continuer
phone-cancel = Annuler
phone-unknown = Aucun compte itsme du bac à sable n'a ce numéro. Vérifiez-le, ou choisissez un numéro dans la liste des personnes de test.
phone-invalid = Ce n'est pas un numéro de GSM. Saisissez-le avec l'indicatif du pays, par exemple +32 470 00 00 01.
phone-already = Cette demande a déjà avancé.

# La page d'attente du bac à sable.
wait-title = Confirmez dans l'app itsme
wait-intro = Nous avons envoyé une demande à l'app itsme de { $phone }. Ouvrez l'app sur votre téléphone et confirmez avec votre code itsme.
wait-open-app = Ouvrir l'app itsme du bac à sable
wait-open-app-note = (s'ouvre dans un nouvel onglet, comme sur votre téléphone)
wait-note = Cette page continue d'elle-même dès que vous répondez dans l'app.
wait-check = Vérifier maintenant

# L'app itsme simulée du bac à sable.
app-title = App itsme (bac à sable)
app-for = Compte { $phone }
app-asks-authentication = { $client } veut vous connecter.
app-asks-identification = { $client } veut vous identifier et demande :
app-nothing-more = Seul votre identifiant itsme est partagé.
app-code-label = Votre code itsme à 5 chiffres
app-approve = Confirmer
app-refuse = Refuser
app-wrong-code = { $left ->
    [one] Code incorrect. Il vous reste un essai.
   *[other] Code incorrect. Il vous reste { $left } essais.
}
app-approved = Confirmé. Retournez à votre navigateur : il continue de lui-même.
app-refused = Vous avez refusé la demande. Retournez à votre navigateur.
app-timed-out = Cette demande a expiré avant d'avoir reçu une réponse.
app-blocked = Un code erroné a été saisi trois fois : ce compte itsme est bloqué.
app-finished = Cette demande est terminée.
app-pending-none = Aucune demande n'est en attente pour ce compte.

# Les données, telles que l'app les affiche.
attr-name = Nom
attr-given_name = Prénoms
attr-family_name = Nom de famille
attr-gender = Sexe
attr-birthdate = Date de naissance
attr-locale = Langue
attr-email = Adresse e-mail
attr-phone_number = Numéro de GSM
attr-address = Adresse légale
attr-national_number = Numéro de registre national
attr-eid_card_number = Numéro de la carte d'identité
attr-document = Numéro et type du document d'identité
attr-issuing_country = Pays qui a délivré le document
attr-validity = Validité du document d'identité
attr-issuance_locality = Lieu de délivrance du document
attr-read_date = Date de la dernière lecture du document d'identité
attr-place_of_birth = Lieu de naissance
attr-nationality = Nationalité
attr-photo = Photo
attr-birthdate_as_string = Date de naissance telle qu'écrite sur le document
attr-official_gender = Sexe tel qu'écrit sur le document

# La liste des personnes de test du bac à sable.
personas-title = Personnes de test du bac à sable
personas-intro = Ces personnes fictives ont un compte itsme dans le bac à sable. Tapez un numéro de téléphone sur la page du numéro ; les personnes marquées « manual » vous attendent dans l'app itsme du bac à sable, où vous confirmez avec leur code.
personas-caption = approve, refuse, timeout et blocked répondent d'eux-mêmes ; manual vous attend.
personas-phone = Numéro de téléphone
personas-country = Document
personas-behaviour = Comportement
personas-code = Code itsme
personas-who = Nom

# Demandes auxquelles on ne peut pas se fier (affichées sur une page, jamais redirigées).
error-repeated-parameter = Le paramètre { $name } apparaît plus d'une fois.
error-nul-parameter = Le paramètre { $name } contient un caractère non autorisé.
error-rate-limited = { $seconds ->
    [one] Trop de tentatives depuis cet endroit. Attendez une seconde et réessayez.
   *[other] Trop de tentatives depuis cet endroit. Attendez { $seconds } secondes et réessayez.
}
error-missing-client-id = La demande n'a pas de client_id. Le site doit envoyer le client_id reçu lors de son enregistrement.
error-unknown-client = Aucun client avec ce client_id n'est enregistré auprès de Passerelle.
error-request-refused = La demande du site n'a pas pu être acceptée ({ $code }) : { $description }
error-missing-redirect-uri = La demande n'a pas de redirect_uri. Le site doit envoyer l'une des URI de redirection enregistrées pour lui.
error-unregistered-redirect-uri = Cette redirect_uri n'est pas enregistrée pour ce client. Elle doit être identique, caractère pour caractère, à une URI enregistrée.
error-unavailable = Ce service est momentanément indisponible. Patientez quelques secondes et réessayez.
sandbox-error-unknown-client = Ce client n'est pas enregistré auprès du bac à sable itsme.
sandbox-error-request-object = L'objet de requête n'est pas valide. Détail technique : { $detail }
sandbox-error-request-object-required = Comme itsme, ce bac à sable n'accepte une demande d'autorisation que sous forme d'objet de requête signé puis chiffré pour le bac à sable par le client.
sandbox-error-request-object-mismatch = Le paramètre { $name } diffère entre la requête et l'objet de requête.
sandbox-error-request-used = Cette demande au bac à sable itsme a déjà été utilisée. Retournez sur le site d'où vous venez et recommencez.
broker-unserved-title = La connexion avec itsme n'est pas disponible ici
broker-unserved-body = { $client } ne peut pas encore vous connecter avec itsme : ce service n'est relié à aucun environnement itsme réel. Aucune donnée vous concernant n'a été partagée.
broker-unserved-back = Retour vers { $client }

# The same-device path, the QR code, the verification icon and biometrics (sandbox).
open-title = Ouvrir itsme
open-intro = { $client } veut confirmer votre identité avec itsme. Ouvrez l'app itsme sur ce téléphone pour continuer.
open-button = Ouvrir itsme
open-note = L'app itsme du bac à sable s'ouvre dans ce navigateur, comme la vraie app sur votre téléphone.
device-title = À qui est ce téléphone ?
device-intro = L'app itsme du bac à sable n'est pas encore configurée dans ce navigateur. Choisissez la personne de test à qui appartient ce téléphone : l'app s'en souvient jusqu'à ce que vous la changiez.
device-legend = Personnes de test
device-submit = Utiliser cette personne
device-choose = Choisissez une des personnes de test.
qr-title = Ou scannez le code QR
qr-alt = Code QR à scanner avec l'app itsme
qr-note = Scannez-le avec l'app itsme sur votre téléphone. Il change toutes les 30 secondes.
qr-open-link = Ouvrir le lien du code dans un nouvel onglet (comme s'il était scanné).
qr-scanned = J'ai scanné le code : attendre l'app
qr-wait-intro = Scannez le code QR avec l'app itsme, puis confirmez dans l'app.
qr-expired = Ce code QR a expiré. Scannez le nouveau code sur la page où vous avez commencé.
wait-icon = Dans l'app, vérifiez que vous voyez la même icône : { $icon }.
app-icon = Vérifiez que votre navigateur affiche la même icône : { $icon }.
icon-star = une étoile
icon-heart = un cœur
icon-sun = un soleil
icon-umbrella = un parapluie
icon-clover = un trèfle
icon-diamond = un carreau
icon-music = des notes de musique
icon-plane = un avion
app-change-person = Ce n'est pas vous ? Changer de personne
app-return = Retourner à { $client }
app-biometrics-note = Vous pouvez confirmer avec votre empreinte digitale ou votre visage, ou avec votre code itsme ci-dessous.
app-fingerprint = Confirmer avec l'empreinte
app-face = Confirmer avec le visage
app-code-required = Cette demande exige votre code itsme : une empreinte ou le visage ne suffit pas.
app-binding = Message du demandeur :
app-not-yours = Cette demande concerne un autre compte itsme que celui de ce téléphone.

inbox-title = Boîte de réception de l’app itsme (sandbox)
inbox-intro = Les demandes en attente dans l’app itsme d’une personne de la sandbox. Saisissez le numéro de téléphone pour les voir.
inbox-phone-label = Numéro de téléphone mobile
inbox-show = Afficher les demandes
inbox-empty = Aucune demande n’attend pour ce numéro.
inbox-open = Ouvrir
inbox-from = De { $client }
app-binding-message = Vérifiez que votre écran affiche le même message : { $message }
discover-title = Scanner avec l’app itsme (sandbox)
discover-intro = Vous avez scanné un code QR. L’app itsme de quelle personne de la sandbox le scanne ? Saisissez son numéro de téléphone.
discover-submit = Scanner
discover-done = C’est fait : l’app itsme vous a identifié. Revenez là où le code était affiché.
discover-expired = Ce code QR a expiré ou a déjà été scanné. Scannez le nouveau.
app-approved-decoupled = Confirmé. Le service qui l’a demandé reçoit maintenant votre réponse ; vous pouvez fermer l’app.
done-title = Terminé
done-elsewhere = Cette connexion est terminée, dans le navigateur où elle a commencé. Vous pouvez fermer cette page.

## Signing (the signer's pages of the signing API)
sign-title = Signer des documents avec itsme
sign-intro = { $sender } vous demande de signer { $count ->
    [one] un document
   *[other] { $count } documents
    }.
sign-documents = Documents
sign-document-detail = { $kind }, { $size }
sign-document-view-only = pour lecture seulement
sign-flow-qualified = Vous signez avec une signature électronique qualifiée dans l'app itsme. Vous confirmez deux fois : d'abord votre compte de signature itsme, puis ces documents, tous ensemble, avec votre code itsme.
sign-flow-advanced = Vous confirmez votre identité avec itsme. Passerelle scelle ensuite ces documents en votre nom (une signature électronique avancée qui enregistre l'identité vérifiée par itsme et l'heure).
sign-agree = J'ai lu les documents et j'accepte de les signer.
sign-button = Signer avec itsme
sign-decline = Refuser
sign-agree-missing = Cochez la case pour confirmer que vous avez lu les documents et acceptez de les signer.
sign-form-stale = Cette page n'est plus à jour ou a été ouverte dans un autre navigateur. Ouvrez à nouveau le lien de signature.
sign-unknown = Cette demande de signature n'existe pas ou n'est plus disponible.
sign-done-title = Signé
sign-done = Ces documents ont été signés. Vous pouvez fermer cette page.
sign-rejected-title = Refusé
sign-rejected = Ces documents n'ont pas été signés : la signature a été refusée.
sign-expired = Cette demande de signature a expiré avant d'être signée.
sign-blocked = Cette demande de signature n'est pas encore ouverte : une autre personne doit d'abord signer.
sign-busy = Ces documents sont en cours de signature. Attendez un instant, puis ouvrez à nouveau le lien de signature.
sign-not-offered = { $client } ne peut pas demander ce type de signature ici : il n'est pas configuré sur ce Passerelle. Rien n'a été signé.
sign-wrong-person = Cette demande de signature est destinée à une autre personne. Rien n'a été signé.
sign-error-browser = Cette signature a été commencée dans un autre navigateur. Retournez dans ce navigateur et réessayez-y.
sign-error-scheme = itsme n'a pas pu terminer la signature. Rien n'a été signé ; vous pouvez réessayer.
sign-error-documents = Les documents de cette demande de signature ne sont plus disponibles. Rien n'a été signé.
sign-try-again = Réessayer
# itsme's signing service (CSC): the two authorizations in the browser and the app.
csc-phone-intro = { $client } souhaite utiliser votre compte de signature itsme. Saisissez le numéro de GSM de votre compte itsme.
csc-open-intro-service = { $client } souhaite utiliser votre compte de signature itsme. Ouvrez l'app itsme sur ce téléphone pour continuer.
csc-open-intro-credential = { $client } vous demande de signer avec itsme. Ouvrez l'app itsme sur ce téléphone pour continuer.
csc-app-asks-service = { $client } souhaite utiliser votre compte de signature itsme.
csc-app-asks-credential = { $client } vous demande de signer avec votre certificat qualifié.
csc-app-create-cert = C'est votre première signature avec itsme : en confirmant, vous créez votre certificat qualifié de signature électronique. Dans ce bac à sable, le certificat ne sert qu'aux tests.
csc-app-service-known = Chaque signature vous sera demandée séparément.
csc-app-description = Description
csc-app-documents-label = À signer
csc-app-documents = { $count ->
    [one] Un document
   *[other] { $count } documents
}
csc-error-not-registered = Ce client n'est pas enregistré pour la signature itsme dans le bac à sable.
sign-app-description = { $client } : { $title } ({ $count ->
    [one] un document
   *[other] { $count } documents
    })
logout-title = Vous êtes déconnecté
logout-done = Vous êtes déconnecté. itsme ne garde aucune session : il n'y a rien d'autre à fermer. Vous pouvez fermer cette page.
logout-done-client = Vous êtes déconnecté de { $client } : ce que cette connexion lui a donné ne fonctionne plus. itsme ne garde aucune session : il n'y a rien d'autre à fermer. Vous pouvez fermer cette page.
logout-error-title = La déconnexion ne peut pas continuer
logout-error-hint = L'id_token_hint n'est pas un jeton d'identité émis par Passerelle.
logout-error-client-mismatch = Le client_id n'est pas le client pour lequel l'id_token_hint a été émis.
logout-error-unknown-client = Aucun client avec ce client_id n'est enregistré auprès de Passerelle.
logout-error-redirect-needs-client = Un post_logout_redirect_uri a besoin du client auquel il appartient : envoyez id_token_hint ou client_id.
logout-error-redirect-unregistered = Le post_logout_redirect_uri n'est pas enregistré pour ce client. Il doit correspondre exactement, caractère par caractère, à une URI enregistrée.
