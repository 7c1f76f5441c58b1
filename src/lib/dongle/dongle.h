/* dongle.h - HOTP verification by a USB security dongle (heads-behaviour.md
 * §6.3; issue 17): the dongle holds the HOTP secret, Heads sends it the code
 * the TPM computed for the /boot counter, the dongle says yes or no (and
 * lights green or red).
 *
 * Devices:
 * - Nitrokey Pro / Pro 2 (20a0:4108), Nitrokey Storage (20a0:4109), Librem
 *   Key (316d:4c4b): 64-byte HID feature reports with an STM32 CRC32
 *   (nk_hid.h), HOTP slot 3 (internal 0x13) written with the Admin PIN,
 *   VERIFY_OTP_CODE checks counters c..c+9 and moves to match+1.
 * - Nitrokey 3 (20a0:42b2): the Secrets application over CCID
 *   (nk3_secrets.h): SELECT, VERIFY PIN, PUT of a reverse-HOTP credential
 *   "HEADS Validation", VERIFY CODE; same window.
 * - Other security keys (Canokey 20a0:42d4, anything with a CCID or FIDO
 *   interface we know): DONGLE_NOT_SUPPORTED, never a failure.
 *
 * Layers: a transport (transport.h: hidraw / usbfs for real devices, an
 * in-process model in tests) moves frames; the protocol modules build and
 * parse them (bounded, fuzzed); this API gives outcomes. Every function
 * below returns an enum dongle_result (never a negative errno): the menu and
 * `heads hotp` react to exactly these.
 *
 * PINs and the HOTP secret only travel in struct secret; frames that held
 * them are wiped (explicit_bzero) before return.
 */
#ifndef HEADS_DONGLE_H
#define HEADS_DONGLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct secret;
struct dongle_transport;

enum dongle_result {
	DONGLE_OK = 0,           /* code accepted / slot written / PIN accepted */
	DONGLE_INVALID_CODE,     /* the dongle checked the code and refused it */
	DONGLE_NOT_CONFIGURED,   /* its HOTP slot / credential is not programmed */
	DONGLE_WRONG_PIN,        /* PIN refused; retries left in the info */
	DONGLE_BLOCKED,          /* PIN retry counter at 0: nothing more to try */
	DONGLE_NO_DONGLE,        /* no known dongle attached */
	DONGLE_NOT_SUPPORTED,    /* a dongle that cannot verify HOTP (Canokey...) */
	DONGLE_CONNECTION_ERROR, /* transport failure, bad CRC, malformed answer */
	DONGLE_RESULT_MAX,
};

/* A short English sentence for r ("Success", "Invalid code", "HOTP slot
 * not configured", ...). Never NULL. */
const char *dongle_result_str(enum dongle_result r);

enum dongle_kind {
	DONGLE_KIND_NONE = 0,
	DONGLE_KIND_NK_PRO,      /* Nitrokey Pro / Pro 2 */
	DONGLE_KIND_NK_STORAGE,  /* Nitrokey Storage */
	DONGLE_KIND_LIBREM_KEY,  /* Librem Key (Nitrokey Pro firmware) */
	DONGLE_KIND_NK3,         /* Nitrokey 3: Secrets app over CCID */
	DONGLE_KIND_UNSUPPORTED, /* known vendor, no HOTP verification */
};

enum dongle_proto {
	DONGLE_PROTO_NONE = 0,
	DONGLE_PROTO_HID,  /* Nitrokey Pro family: feature reports */
	DONGLE_PROTO_CCID, /* Nitrokey 3: CCID bulk messages */
};

struct dongle_id {
	uint16_t vid, pid;
	enum dongle_kind kind;
	enum dongle_proto proto;
	const char *brand; /* "Nitrokey Pro", "Librem Key", ... */
};

/* The table of known VID:PIDs; NULL if vid:pid is not a known dongle. */
const struct dongle_id *dongle_id_lookup(uint16_t vid, uint16_t pid);

/* What a device says about itself. */
struct dongle_info {
	enum dongle_kind kind;
	const char *brand;
	char firmware[24];       /* "0.15", "1.7.2" */
	unsigned fw_major, fw_minor, fw_patch;
	uint32_t serial;         /* 0 if hidden/unknown */
	bool have_retries;       /* the PIN counter below is known */
	unsigned admin_retries;  /* HID: Admin PIN; NK3: Secrets app PIN */
	unsigned user_retries;   /* HID only (user PIN) */
	bool pin_set;            /* NK3: a Secrets PIN exists (else none set) */
};

/* Factory retry counters (reference: NK3 8, the others 3). */
#define DONGLE_HID_ADMIN_RETRIES 3
#define DONGLE_NK3_PIN_RETRIES 8
/* The counter window the devices search: c .. c + DONGLE_WINDOW - 1. */
#define DONGLE_WINDOW 10
/* Longest PIN the HID protocol carries (25-byte field); the NK3 takes more
 * but the reference caps both (MAX_HOTP_GPG_PIN_LENGTH). */
#define DONGLE_PIN_MAX 25
/* The HOTP secret the dongles store (reference: truncated to 20 bytes). */
#define DONGLE_SECRET_LEN 20
/* The Secrets app credential name (same as nitrokey-hotp-verification, so
 * a dongle enrolled by the shell version keeps working). */
#define DONGLE_NK3_CREDENTIAL "HEADS Validation"

struct dongle;

/* Connect a dongle of kind over transport t (ownership of t passes to the
 * dongle, also on failure). Sends nothing. */
enum dongle_result dongle_attach(struct dongle_transport *t, const struct dongle_id *id,
				 struct dongle **ret);
/* Where a dongle was found (sysfs). node: /dev/hidrawN (HID) or
 * /dev/bus/usb/BBB/DDD (CCID: interface iface, bulk endpoints). */
struct dongle_found {
	const struct dongle_id *id;
	char node[64];
	unsigned iface;
	uint8_t ep_in, ep_out;
};
/* Look through <sysroot>/sys/bus/usb/devices: idVendor/idProduct of each
 * device; HID family: the hidraw node under its interfaces; NK3: busnum,
 * devnum and the interface of class 0b with its Bulk in/out endpoints.
 * DONGLE_OK (first usable one), DONGLE_NOT_SUPPORTED (only unsupported
 * ones: ret->id names one), DONGLE_NO_DONGLE. */
enum dongle_result dongle_discover(const char *sysroot, struct dongle_found *ret);

/* Find the first known dongle on this machine (sysfs: hidraw for the HID
 * family, usbfs for the NK3) and open it. DONGLE_NO_DONGLE if none,
 * DONGLE_NOT_SUPPORTED if only an unsupported one (*ret_id tells which),
 * DONGLE_CONNECTION_ERROR if one is there but cannot be opened. sysroot is
 * "" or NULL for the real system (tests: a fake sysfs tree). */
enum dongle_result dongle_open(const char *sysroot, struct dongle **ret,
			       const struct dongle_id **ret_id);
void dongle_close(struct dongle *d);
static inline void dongle_closep(struct dongle **d)
{
	dongle_close(*d);
	*d = NULL;
}
#define _cleanup_dongle_ __attribute__((cleanup(dongle_closep)))

const struct dongle_id *dongle_get_id(const struct dongle *d);

/* Status: firmware version, serial, PIN retry counters. */
enum dongle_result dongle_info(struct dongle *d, struct dongle_info *ret);

/* Write the HOTP secret (key: exactly DONGLE_SECRET_LEN bytes, or longer and
 * then truncated) with device counter 0, authorised by pin (HID: Admin PIN;
 * NK3: Secrets app PIN, or none set: pin becomes the new Secrets PIN as the
 * reference's `set` does). DONGLE_WRONG_PIN/DONGLE_BLOCKED: call
 * dongle_info() for the retries left. */
enum dongle_result dongle_hotp_write(struct dongle *d, const struct secret *pin,
				     const struct secret *key);

/* Ask the dongle to check a 6-digit code (0..999999). */
enum dongle_result dongle_hotp_check(struct dongle *d, uint32_t code);

/* The enrolment of the reference (hotp_initialize): write key with counter
 * 0, then walk the device counter up to target by checking the codes for
 * 9, 19, ... below target, then check target itself. On DONGLE_OK the
 * device counter is target + 1: the caller writes target + 1 to
 * /boot/kexec_hotp_counter. target >= 1 (the reference uses 1). Codes are
 * computed in software from key (the same HMAC the TPM object computes). */
enum dongle_result dongle_hotp_enroll(struct dongle *d, const struct secret *pin,
				      const struct secret *key, uint64_t target);

/* Nitrokey 3: reset the Secrets application (every credential and the
 * Secrets PIN are erased). Others: DONGLE_NOT_SUPPORTED. */
enum dongle_result dongle_reset_secrets(struct dongle *d);

#endif
