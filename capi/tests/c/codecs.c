/* HP's SYS_ encoding and address helpers from C: base64, URL encoding, zlib and gzip with HP's
 * return codes (0 / -3 bad input / -5 buffer too small with the size needed), and the address
 * helpers. argv[1] is a gzip stream (hex) made by python: decompressed and printed. The gzip
 * of "shardnet gzip from C" is printed in hex for python to check. */
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
#define EXPECT(cond) do { if (!(cond)) { printf("FAIL line %d: %s\n", __LINE__, #cond); failures++; } } while (0)

static int unhex(const char* h, BYTE* out)
{
    int n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (BYTE)v;
    }
    return n;
}

int main(int argc, char** argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* base64 */
    const BYTE* src = (const BYTE*)"hello, world";
    DWORD need = SYS_GuessBase64EncodeBound(12);
    EXPECT(need == 16);
    BYTE b64[64];
    DWORD len = 3;
    EXPECT(SYS_Base64Encode(src, 12, b64, &len) == -5 && len == 16);
    len = sizeof(b64);
    EXPECT(SYS_Base64Encode(src, 12, b64, &len) == 0 && len == 16 && strcmp((char*)b64, "aGVsbG8sIHdvcmxk") == 0);
    EXPECT(SYS_GuessBase64DecodeBound(b64, 16) == 12);
    BYTE plain[64];
    len = sizeof(plain);
    EXPECT(SYS_Base64Decode(b64, 16, plain, &len) == 0 && len == 12 && memcmp(plain, src, 12) == 0);
    len = sizeof(plain);
    EXPECT(SYS_Base64Decode((const BYTE*)"aGV$bG8=", 8, plain, &len) == -3);
    len = sizeof(b64);
    EXPECT(SYS_Base64Encode((const BYTE*)"ab", 2, b64, &len) == 0 && strcmp((char*)b64, "YWI=") == 0);

    /* URL */
    BYTE url_in[] = "a b&c=d/e.f-g_h*i~";
    DWORD ulen = (DWORD)strlen((char*)url_in);
    BYTE url[128];
    need = SYS_GuessUrlEncodeBound(url_in, ulen);
    len = 4;
    EXPECT(SYS_UrlEncode(url_in, ulen, url, &len) == -5 && len == need);
    len = sizeof(url);
    EXPECT(SYS_UrlEncode(url_in, ulen, url, &len) == 0 && strcmp((char*)url, "a+b%26c%3Dd%2Fe.f-g_h*i%7E") == 0 && len == need);
    EXPECT(SYS_GuessUrlDecodeBound(url, len) == ulen);
    BYTE back[128];
    DWORD blen = sizeof(back);
    EXPECT(SYS_UrlDecode(url, len, back, &blen) == 0 && blen == ulen && memcmp(back, url_in, ulen) == 0);
    blen = sizeof(back);
    EXPECT(SYS_UrlDecode((BYTE*)"100%", 4, back, &blen) == -3);

    /* zlib and gzip round trips; a small buffer is -5 with the bound */
    BYTE text[4000];
    for (int i = 0; i < 4000; i++)
        text[i] = (BYTE)("shardnet "[i % 9]);
    BYTE z[8192], un[8192];
    DWORD zlen = 10;
    EXPECT(SYS_Compress(text, 4000, z, &zlen) == -5 && zlen == SYS_GuessCompressBound(4000, FALSE));
    zlen = sizeof(z);
    EXPECT(SYS_Compress(text, 4000, z, &zlen) == 0 && zlen < 200 && z[0] == 0x78);
    DWORD unlen = sizeof(un);
    EXPECT(SYS_Uncompress(z, zlen, un, &unlen) == 0 && unlen == 4000 && memcmp(un, text, 4000) == 0);
    unlen = 100;
    EXPECT(SYS_Uncompress(z, zlen, un, &unlen) == -5);
    unlen = sizeof(un);
    EXPECT(SYS_Uncompress(z, zlen - 3, un, &unlen) == -3);
    zlen = sizeof(z);
    EXPECT(SYS_CompressEx(text, 4000, z, &zlen, 9, 8, -15, 8, 0) == 0);
    unlen = sizeof(un);
    EXPECT(SYS_UncompressEx(z, zlen, un, &unlen, -15) == 0 && unlen == 4000);
    zlen = sizeof(z);
    EXPECT(SYS_CompressEx(text, 4000, z, &zlen, 9, 7, 15, 8, 0) == -2);
    zlen = sizeof(z);
    EXPECT(SYS_GZipCompress(text, 4000, z, &zlen) == 0 && z[0] == 0x1f && z[1] == 0x8b);
    EXPECT(SYS_GZipGuessUncompressBound(z, zlen) == 4000);
    unlen = sizeof(un);
    EXPECT(SYS_GZipUncompress(z, zlen, un, &unlen) == 0 && unlen == 4000 && memcmp(un, text, 4000) == 0);

    /* python's gzip, decompressed here */
    if (argc > 1) {
        BYTE gz[512];
        int n = unhex(argv[1], gz);
        unlen = sizeof(un);
        EXPECT(SYS_GZipUncompress(gz, (DWORD)n, un, &unlen) == 0);
        printf("from python: %.*s\n", (int)unlen, (char*)un);
    }
    /* ours, for python */
    const char* msg = "shardnet gzip from C";
    zlen = sizeof(z);
    EXPECT(SYS_GZipCompress((const BYTE*)msg, (DWORD)strlen(msg), z, &zlen) == 0);
    printf("gzip ");
    for (DWORD i = 0; i < zlen; i++)
        printf("%02x", z[i]);
    printf("\n");

    /* addresses */
    En_HP_IPAddrType t = IPT_ALL;
    EXPECT(SYS_IsIPAddress("127.0.0.1", &t) && t == IPT_IPV4);
    EXPECT(SYS_IsIPAddress("::1", &t) && t == IPT_IPV6);
    EXPECT(!SYS_IsIPAddress("localhost", &t) && !SYS_IsIPAddress("1.2.3", NULL));
    TCHAR ip[64];
    int iplen = 2;
    EXPECT(!SYS_GetIPAddress("127.0.0.1", ip, &iplen, &t) && iplen == 10);
    EXPECT(SYS_GetIPAddress("127.0.0.1", ip, &iplen, &t) && strcmp(ip, "127.0.0.1") == 0);
    iplen = sizeof(ip);
    EXPECT(SYS_GetIPAddress("localhost", ip, &iplen, &t) && (strcmp(ip, "127.0.0.1") == 0 || strcmp(ip, "::1") == 0));
    HP_LPTIPAddr* list = NULL;
    int count = 0;
    EXPECT(SYS_EnumHostIPAddresses("localhost", IPT_IPV4, &list, &count) && count >= 1);
    int has_loopback = 0;
    for (int i = 0; i < count; i++)
        has_loopback |= list[i]->type == IPT_IPV4 && strcmp(list[i]->address, "127.0.0.1") == 0;
    EXPECT(has_loopback && list[count] == NULL);
    EXPECT(SYS_FreeHostIPAddresses(list));
    EXPECT(!SYS_EnumHostIPAddresses("no-such-host.invalid", IPT_ALL, &list, &count) && count == 0);

    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
