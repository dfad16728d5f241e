-- A security profile a client is registered under (`fapi2`: FAPI 2.0 Security Profile), which
-- makes Passerelle refuse it anything weaker. NULL: no profile.
ALTER TABLE clients ADD COLUMN profile TEXT;
