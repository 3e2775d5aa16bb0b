/*
 * fuzz_reload_frame: arbitrary bytes as an answer or request of the
 * privileged helper. The decoder must refuse or give a message whose
 * parts stay within the caps, and a decoded message encoded again must
 * decode to the same message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reload_frame.h"
#include "util/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reload_msg m;
	char err[128];
	size_t total = 0;
	if (size > 0 && reload_frame_complete(data, size, &total) == 1 && total > size)
		abort();
	if (reload_frame_decode(data, size, &m, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	struct reload_frame_buf b = { 0 };
	int rc = -1;
	switch (m.kind) {
	case RELOAD_MSG_REQUEST:
		if (m.nhave > RELOAD_FRAME_MAX_LISTENERS)
			abort();
		rc = reload_frame_encode_request(&b, m.have, m.nhave);
		break;
	case RELOAD_MSG_REFUSED:
		if (strlen(m.errors) > RELOAD_FRAME_ERROR_MAX)
			abort();
		rc = reload_frame_encode_refused(&b, m.errors);
		break;
	case RELOAD_MSG_CONFIG:
		if (m.nlisteners > RELOAD_FRAME_MAX_LISTENERS)
			abort();
		rc = reload_frame_encode_config(&b, m.config_name, m.config_text, m.config_len, m.files,
		    m.listener, m.nlisteners);
		break;
	}
	if (rc != 0)
		abort();
	struct reload_msg again;
	if (reload_frame_decode(b.p, b.len, &again, err, sizeof(err)) != 0 || again.kind != m.kind ||
	    again.nhave != m.nhave || again.nlisteners != m.nlisteners ||
	    again.config_len != m.config_len ||
	    (m.config_text != NULL && memcmp(again.config_text, m.config_text, m.config_len) != 0) ||
	    (m.errors != NULL && strcmp(again.errors, m.errors) != 0) ||
	    (m.files != NULL && file_set_count(again.files) != file_set_count(m.files)))
		abort();
	reload_msg_clear(&again);
	reload_frame_buf_free(&b);
	reload_msg_clear(&m);
	return 0;
}
