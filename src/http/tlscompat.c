/*
 * tlscompat.c: Debian's libcivetweb 1.15 is built for the OpenSSL 1.1 API and loads libssl at run time by
 * function name. OpenSSL 3 (the only one in Debian 12) renamed SSL_get_peer_certificate to
 * SSL_get1_peer_certificate, so that entry of CivetWeb's function table stays NULL and every TLS connection
 * calls address 0 right after its handshake (tried: a crash on the first HTTPS request).
 * This module finds that table entry, {"SSL_get_peer_certificate", category, NULL}, in libcivetweb's
 * writable data (by the address of its name string) and stores SSL_get1_peer_certificate there: same
 * signature, same ownership (the caller frees the certificate, as CivetWeb does). It changes nothing when
 * the entry is not found exactly once or is already filled. Main thread only, before any worker runs.
 */
#include "tlscompat.h"

#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char s_old_name[] = "SSL_get_peer_certificate";

struct search {
	uintptr_t name;   /* address of s_old_name's copy in libcivetweb's read-only data */
	uintptr_t *slots[2];
	int found;        /* table entries naming it, whose function is still NULL */
	int filled;       /* entries naming it that already have a function */
};

/* Finds the name string in the object's read-only segments. */
static uintptr_t find_name(const struct dl_phdr_info *info)
{
	size_t len = sizeof s_old_name;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
			continue;
		const char *base = (const char *)(info->dlpi_addr + ph->p_vaddr);
		for (size_t k = 0; k + len <= ph->p_memsz; k++)
			if (base[k] == 'S' && (k == 0 || base[k - 1] == '\0') && memcmp(base + k, s_old_name, len) == 0)
				return (uintptr_t)(base + k);
	}
	return 0;
}

static int visit(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct search *s = arg;
	(void)size;
	if (!strstr(info->dlpi_name, "libcivetweb.so"))
		return 0;
	if (!(s->name = find_name(info)))
		return 1;
	/* struct ssl_func { const char *name; enum category; void (*ptr)(void); }: name, padding, ptr */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_W))
			continue;
		uintptr_t *p = (uintptr_t *)(info->dlpi_addr + ph->p_vaddr);
		size_t n = ph->p_memsz / sizeof *p;
		for (size_t k = 0; k + 2 < n; k++) {
			if (p[k] != s->name)
				continue;
			if (p[k + 2] != 0)
				s->filled++;
			else if (s->found++ < 2)
				s->slots[s->found - 1] = &p[k + 2];
		}
	}
	return 1;
}

int tlscompat_fix(struct error *err)
{
	struct search s;
	void *ssl = dlopen("libssl.so", RTLD_NOW | RTLD_NOLOAD);
	void *fn = ssl ? dlsym(ssl, "SSL_get1_peer_certificate") : NULL;
	memset(&s, 0, sizeof s);
	if (!ssl) {
		error_fail(err, "TLS needs libssl.so (Debian package libssl-dev)");
		return ERR_FAIL;
	}
	if (!fn) /* an OpenSSL 1.1: CivetWeb found everything by itself */
		return 0;
	dl_iterate_phdr(visit, &s);
	if (s.found == 1) {
		*s.slots[0] = (uintptr_t)fn;
		return 0;
	}
	if (s.found == 0 && s.filled > 0)
		return 0; /* a CivetWeb that already knows OpenSSL 3 */
	error_fail(err, "this CivetWeb cannot use this OpenSSL (no single %s entry to fill)", s_old_name);
	return ERR_FAIL;
}
