"""Campus directories: who a person is according to an OpenID provider or an LDAP directory,
and what their groups make them in Compax."""
