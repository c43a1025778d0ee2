/* HP's HttpServer in C, written against HP-Socket's HPSocket4C.h: every request is answered
 * from OnMessageComplete with what the getters say of it (method, URL fields, version, headers,
 * cookies, body); "/chunked" is answered with HP_HttpServer_SendChunkData, "/file" with
 * HP_HttpServer_SendLocalFile (argv[1]), "/release" is released after its answer; a WebSocket
 * upgrade is accepted (the accept key computed here, as HP's own examples do) and every message
 * echoed with HP_HttpServer_SendWSMessage. With argv[2] and argv[3] (certificate, key) it is an
 * HttpsServer. Prints "port N" once listening; "quit" on stdin stops. */
#include <hpsocket/HPSocket4C-SSL.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SHA-1 and base64 for Sec-WebSocket-Accept ---- */
static uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

static void sha1(const unsigned char* msg, size_t len, unsigned char out[20])
{
    uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    size_t total = ((len + 8) / 64 + 1) * 64;
    unsigned char* m = calloc(total, 1);
    memcpy(m, msg, len);
    m[len] = 0x80;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++)
        m[total - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t off = 0; off < total; off += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)m[off + 4 * i] << 24 | (uint32_t)m[off + 4 * i + 1] << 16 | (uint32_t)m[off + 4 * i + 2] << 8 | m[off + 4 * i + 3];
        for (int i = 16; i < 80; i++)
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
            else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
            else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            else f = b ^ c ^ d, k = 0xCA62C1D6;
            uint32_t t = rol(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rol(b, 30), b = a, a = t;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
    }
    free(m);
    for (int i = 0; i < 20; i++)
        out[i] = (unsigned char)(h[i / 4] >> (24 - 8 * (i % 4)));
}

static void ws_accept(const char* key, char out[64])
{
    char buf[128];
    unsigned char digest[20];
    snprintf(buf, sizeof(buf), "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
    sha1((const unsigned char*)buf, strlen(buf), digest);
    DWORD n = 64;
    SYS_Base64Encode(digest, 20, (BYTE*)out, &n);
    out[n] = 0;
}

/* ---- per connection: the body so far, the WebSocket message so far ---- */
typedef struct {
    char* body;
    size_t len, cap;
    int headers, chunks, begins;
    BYTE ws_op;
    int ws_remain_ok;
} Conn;

static Conn* conn_of(HP_Server s, HP_CONNID id)
{
    PVOID p = NULL;
    HP_Server_GetConnectionExtra(s, id, &p);
    return (Conn*)p;
}

static void append(Conn* c, const BYTE* d, int n)
{
    if (c->len + n > c->cap) {
        c->cap = (c->len + n) * 2;
        c->body = realloc(c->body, c->cap);
    }
    memcpy(c->body + c->len, d, n);
    c->len += n;
}

static const char* file_path = NULL;

static En_HP_HandleResult __HP_CALL OnAccept(HP_Server s, HP_CONNID id, UINT_PTR soClient)
{
    (void)soClient;
    Conn* c = calloc(1, sizeof(Conn));
    HP_Server_SetConnectionExtra(s, id, c);
    return HR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnMessageBegin(HP_HttpServer s, HP_CONNID id)
{
    Conn* c = conn_of(s, id);
    c->len = 0, c->headers = 0, c->chunks = 0, c->begins++;
    return HPR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnRequestLine(HP_HttpServer s, HP_CONNID id, LPCSTR method, LPCSTR url)
{
    (void)s, (void)id;
    return (method && url && url[0]) ? HPR_OK : HPR_ERROR;
}

static En_HP_HttpParseResult __HP_CALL OnHeader(HP_HttpServer s, HP_CONNID id, LPCSTR name, LPCSTR value)
{
    (void)name, (void)value;
    conn_of(s, id)->headers++;
    return HPR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnHeadersComplete(HP_HttpServer s, HP_CONNID id)
{
    LPCSTR path = HP_HttpServer_GetUrlField(s, id, HUF_PATH);
    if (path && strcmp(path, "/skip") == 0)
        return HPR_SKIP_BODY;
    if (HP_HttpServer_IsUpgrade(s, id))
        return HPR_UPGRADE;
    return HPR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnBody(HP_HttpServer s, HP_CONNID id, const BYTE* d, int n)
{
    append(conn_of(s, id), d, n);
    return HPR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnChunkHeader(HP_HttpServer s, HP_CONNID id, int n)
{
    if (n > 0)
        conn_of(s, id)->chunks++;
    return HPR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnChunkComplete(HP_HttpServer s, HP_CONNID id)
{
    (void)s, (void)id;
    return HPR_OK;
}

static void answer(HP_HttpServer s, HP_CONNID id, Conn* c)
{
    char text[4096];
    LPCSTR cookie_a = NULL, multi = NULL, ctype = HP_HttpServer_GetContentType(s, id);
    HP_HttpServer_GetCookie(s, id, "a", &cookie_a);
    HP_HttpServer_GetHeader(s, id, "x-multi", &multi);
    DWORD nmulti = 0, nall = 0, nnames = 0, ncookies = 0;
    HP_HttpServer_GetHeaders(s, id, "X-Multi", NULL, &nmulti);
    LPCSTR multis[8] = {0};
    DWORD room = 8;
    BOOL got_multi = nmulti == 0 || HP_HttpServer_GetHeaders(s, id, "X-Multi", multis, &room);
    HP_HttpServer_GetAllHeaders(s, id, NULL, &nall);
    HP_THeader all[64];
    DWORD nall_room = 64;
    BOOL got_all = HP_HttpServer_GetAllHeaders(s, id, all, &nall_room) && nall_room == nall && (int)nall == c->headers;
    HP_HttpServer_GetAllHeaderNames(s, id, NULL, &nnames);
    HP_TCookie cookies[8];
    ncookies = 8;
    if (!HP_HttpServer_GetAllCookies(s, id, cookies, &ncookies))
        ncookies = 0;
    LPCSTR q = HP_HttpServer_GetUrlField(s, id, HUF_QUERY);
    unsigned sum = 0;
    for (size_t i = 0; i < c->len; i++)
        sum = sum * 31 + (unsigned char)c->body[i];
    snprintf(text, sizeof(text),
             "method=%s path=%s query=%s host=%s fields=%u ver=%u ka=%d upgrade=%d "
             "ctype=%s clen=%llu cookie.a=%s cookies=%u multi=%s/%u/%s all=%u/%d names=%u "
             "headers=%d chunks=%d body=%zu sum=%u\n",
             HP_HttpServer_GetMethod(s, id), HP_HttpServer_GetUrlField(s, id, HUF_PATH), q ? q : "-", HP_HttpServer_GetHost(s, id),
             (unsigned)HP_HttpServer_GetUrlFieldSet(s, id), (unsigned)HP_HttpServer_GetVersion(s, id),
             HP_HttpServer_IsKeepAlive(s, id), (int)HP_HttpServer_GetUpgradeType(s, id), ctype ? ctype : "-",
             HP_HttpServer_GetContentLength(s, id), cookie_a ? cookie_a : "-", ncookies, multi ? multi : "-",
             nmulti, got_multi && nmulti == 2 ? multis[1] : "-", nall, got_all, nnames, c->headers, c->chunks,
             c->len, sum);
    HP_THeader hs[] = {{"Content-Type", "text/plain"}, {"X-Shardnet", "c"}};
    if (!HP_HttpServer_SendResponse(s, id, 200, NULL, hs, 2, (const BYTE*)text, (int)strlen(text)))
        printf("SendResponse failed %d\n", SYS_GetLastError());
}

static En_HP_HttpParseResult __HP_CALL OnMessageComplete(HP_HttpServer s, HP_CONNID id)
{
    Conn* c = conn_of(s, id);
    LPCSTR path = HP_HttpServer_GetUrlField(s, id, HUF_PATH);
    if (HP_HttpServer_IsUpgrade(s, id))
        return HPR_OK; /* answered in OnUpgrade, which comes next */
    if (path && strcmp(path, "/chunked") == 0) {
        HP_THeader hs[] = {{"Transfer-Encoding", "chunked"}};
        HP_HttpServer_SendResponse(s, id, 200, "Fine", hs, 1, NULL, 0);
        HP_HttpServer_SendChunkData(s, id, (const BYTE*)"first,", 6, NULL);
        HP_HttpServer_SendChunkData(s, id, (const BYTE*)"second,", 7, "ext=1");
        HP_HttpServer_SendChunkData(s, id, (const BYTE*)"third", 5, NULL);
        HP_HttpServer_SendChunkData(s, id, NULL, 0, NULL);
    } else if (path && strcmp(path, "/file") == 0) {
        HP_THeader hs[] = {{"Content-Type", "application/octet-stream"}};
        if (!HP_HttpServer_SendLocalFile(s, id, file_path, 200, NULL, hs, 1))
            printf("SendLocalFile failed %d\n", SYS_GetLastError());
    } else {
        answer(s, id, c);
        if (path && strcmp(path, "/release") == 0)
            HP_HttpServer_Release(s, id);
    }
    return HPR_OK;
}

static En_HP_HttpParseResult __HP_CALL OnUpgrade(HP_HttpServer s, HP_CONNID id, En_HP_HttpUpgradeType t)
{
    LPCSTR key = NULL;
    if (t != HUT_WEB_SOCKET || !HP_HttpServer_GetHeader(s, id, "Sec-WebSocket-Key", &key))
        return HPR_ERROR;
    char accept[64];
    ws_accept(key, accept);
    HP_THeader hs[] = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Accept", accept}};
    printf("upgrade %d\n", (int)t);
    fflush(stdout);
    return HP_HttpServer_SendResponse(s, id, 101, NULL, hs, 3, NULL, 0) ? HPR_OK : HPR_ERROR;
}

static En_HP_HandleResult __HP_CALL OnWSMessageHeader(HP_HttpServer s, HP_CONNID id, BOOL fin, BYTE rsv, BYTE op, const BYTE mask[4], ULONGLONG len)
{
    (void)rsv, (void)len;
    Conn* c = conn_of(s, id);
    if (op != 0)
        c->ws_op = op, c->len = 0;
    if (mask == NULL)
        return HR_ERROR; /* a client's frames are masked */
    (void)fin;
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnWSMessageBody(HP_HttpServer s, HP_CONNID id, const BYTE* d, int n)
{
    Conn* c = conn_of(s, id);
    append(c, d, n);
    ULONGLONG len = 0, remain = 0;
    BOOL fin = FALSE;
    BYTE rsv = 0, op = 0;
    LPCBYTE mask = NULL;
    if (HP_HttpServer_GetWSMessageState(s, id, &fin, &rsv, &op, &mask, &len, &remain) && remain <= len && mask)
        c->ws_remain_ok = 1;
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnWSMessageComplete(HP_HttpServer s, HP_CONNID id)
{
    Conn* c = conn_of(s, id);
    BOOL fin = FALSE;
    HP_HttpServer_GetWSMessageState(s, id, &fin, NULL, NULL, NULL, NULL, NULL);
    if (!fin)
        return HR_OK; /* the message goes on in continuation frames */
    if (c->ws_op == 0x8) {
        HP_HttpServer_SendWSMessage(s, id, TRUE, 0, 0x8, (const BYTE*)c->body, (int)c->len, 0);
        HP_HttpServer_Release(s, id);
        return HR_OK;
    }
    if (c->ws_op == 0x9) {
        HP_HttpServer_SendWSMessage(s, id, TRUE, 0, 0xA, (const BYTE*)c->body, (int)c->len, 0);
        return HR_OK;
    }
    printf("ws %d %zu %d\n", c->ws_op, c->len, c->ws_remain_ok);
    fflush(stdout);
    return HP_HttpServer_SendWSMessage(s, id, TRUE, 0, c->ws_op, (const BYTE*)c->body, (int)c->len, 0) ? HR_OK : HR_ERROR;
}

static En_HP_HttpParseResult __HP_CALL OnParseError(HP_HttpServer s, HP_CONNID id, int code, LPCSTR desc)
{
    LPCSTR d2 = NULL;
    USHORT code2 = HP_HttpServer_GetParseErrorCode(s, id, &d2);
    printf("parse error %d %s %s\n", code, desc ? "desc" : "-", code2 == 0 || code2 == code ? "same" : "other");
    fflush(stdout);
    return HPR_OK;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Server s, HP_CONNID id, En_HP_SocketOperation op, int err)
{
    (void)op, (void)err;
    Conn* c = conn_of(s, id);
    if (c) {
        free(c->body);
        free(c);
    }
    return HR_OK;
}

static int prepared = 0;
static En_HP_HandleResult __HP_CALL OnPrepareListen(HP_Server s, UINT_PTR so)
{
    (void)s, (void)so;
    prepared++;
    return HR_OK;
}

static int shutdowns = 0;
static En_HP_HandleResult __HP_CALL OnShutdown(HP_Server s)
{
    (void)s;
    shutdowns++;
    return HR_OK;
}

int main(int argc, char** argv)
{
    file_path = argc > 1 ? argv[1] : "/dev/null";
    HP_HttpServerListener l = Create_HP_HttpServerListener();
    HP_Set_FN_HttpServer_OnPrepareListen(l, OnPrepareListen);
    HP_Set_FN_HttpServer_OnAccept(l, OnAccept);
    HP_Set_FN_HttpServer_OnMessageBegin(l, OnMessageBegin);
    HP_Set_FN_HttpServer_OnRequestLine(l, OnRequestLine);
    HP_Set_FN_HttpServer_OnHeader(l, OnHeader);
    HP_Set_FN_HttpServer_OnHeadersComplete(l, OnHeadersComplete);
    HP_Set_FN_HttpServer_OnBody(l, OnBody);
    HP_Set_FN_HttpServer_OnChunkHeader(l, OnChunkHeader);
    HP_Set_FN_HttpServer_OnChunkComplete(l, OnChunkComplete);
    HP_Set_FN_HttpServer_OnMessageComplete(l, OnMessageComplete);
    HP_Set_FN_HttpServer_OnUpgrade(l, OnUpgrade);
    HP_Set_FN_HttpServer_OnParseError(l, OnParseError);
    HP_Set_FN_HttpServer_OnWSMessageHeader(l, OnWSMessageHeader);
    HP_Set_FN_HttpServer_OnWSMessageBody(l, OnWSMessageBody);
    HP_Set_FN_HttpServer_OnWSMessageComplete(l, OnWSMessageComplete);
    HP_Set_FN_HttpServer_OnClose(l, OnClose);
    HP_Set_FN_HttpServer_OnShutdown(l, OnShutdown);

    /* argv[2], argv[3]: certificate and key: an HttpsServer. */
    int tls = argc > 3;
    HP_HttpServer s = tls ? Create_HP_HttpsServer(l) : Create_HP_HttpServer(l);
    if (tls && !HP_SSLServer_SetupSSLContext(s, SSL_VM_NONE, argv[2], argv[3], NULL, NULL, NULL))
        return printf("ssl setup failed\n"), 1;
    HP_HttpServer_SetReleaseDelay(s, 500);
    if (HP_HttpServer_GetReleaseDelay(s) != 500 || !HP_HttpServer_IsHttpAutoStart(s) || HP_HttpServer_GetLocalVersion(s) != HV_1_1)
        return printf("settings\n"), 1;
    HP_Server_SetWorkerThreadCount(s, 2);
    if (!HP_Server_Start(s, "127.0.0.1", 0))
        return printf("start failed %d\n", HP_Server_GetLastError(s)), 1;
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    HP_Server_GetListenAddress(s, addr, &len, &port);
    printf("prepared %d\nport %u\n", prepared > 0, port);
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof(line), stdin) && strncmp(line, "quit", 4) != 0) {
        if (strncmp(line, "count", 5) == 0) {
            printf("count %u\n", HP_Server_GetConnectionCount(s));
            fflush(stdout);
        }
    }
    HP_Server_Stop(s);
    if (tls)
        Destroy_HP_HttpsServer(s);
    else
        Destroy_HP_HttpServer(s);
    Destroy_HP_HttpServerListener(l);
    printf("stopped %d\n", shutdowns);
    return 0;
}
