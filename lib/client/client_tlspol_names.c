/*
 * client_tlspol_names: the names of the TLS policy levels and of what
 * authenticated a server, in the words of Postfix's smtp_tls_policy_maps
 * and of the logs, and the one parser of a level's name (configuration,
 * command line and library callers share it).
 *
 * Owns: mxr_tls_policy_name, mxr_tls_policy_parse, mxr_tls_auth_name.
 * Never: decides a policy (client_tlspol does).
 */
#include <string.h>

#include "mxrelay/mxrelay.h"

/* Each level with its name; the older names after, for parsing only. */
static const struct {
	const char *name;
	enum mxr_tls_policy policy;
} client_tlspol_names[] = {
	{ "none", MXR_TLS_NONE },
	{ "may", MXR_TLS_OPPORTUNISTIC },
	{ "encrypt", MXR_TLS_ENCRYPT },
	{ "verify", MXR_TLS_REQUIRED },
	{ "dane", MXR_TLS_DANE },
	{ "dane-only", MXR_TLS_DANE_ONLY },
	{ "mta-sts", MXR_TLS_MTA_STS },
	{ "implicit", MXR_TLS_IMPLICIT },
	{ "opportunistic", MXR_TLS_OPPORTUNISTIC },
	{ "required", MXR_TLS_REQUIRED },
};

#define CLIENT_TLSPOL_NNAMES (sizeof(client_tlspol_names) / sizeof(client_tlspol_names[0]))

const char *mxr_tls_policy_name(enum mxr_tls_policy p)
{
	for (size_t i = 0; i < CLIENT_TLSPOL_NNAMES; i++)
		if (client_tlspol_names[i].policy == p)
			return client_tlspol_names[i].name;
	return "unknown";
}

bool mxr_tls_policy_parse(const char *name, enum mxr_tls_policy *out)
{
	for (size_t i = 0; i < CLIENT_TLSPOL_NNAMES; i++) {
		if (strcmp(client_tlspol_names[i].name, name) == 0) {
			*out = client_tlspol_names[i].policy;
			return true;
		}
	}
	return false;
}

const char *mxr_tls_auth_name(enum mxr_tls_auth a)
{
	switch (a) {
	case MXR_TLS_AUTH_NONE: return "none";
	case MXR_TLS_AUTH_PKIX: return "pkix";
	case MXR_TLS_AUTH_DANE: return "dane";
	case MXR_TLS_AUTH_MTA_STS: return "mta-sts";
	}
	return "unknown";
}
