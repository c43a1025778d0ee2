/* HP's HTTP clients in C, against an HTTP server on 127.0.0.1:argv[1]:
 * - HP_HttpSyncClient: OpenUrl GET (a header sent, the status, headers, cookies and body read
 *   back), POST with a body on the same connection, a chunked answer, a cookie the server set
 *   sent back by itself, a URL of the wrong scheme and a refused port;
 * - HP_HttpClient: started on the server, a GET and a PUT sent from the callbacks, the
 *   answers read in OnMessageComplete.
 * With argv[2] "https": HP_HttpsSyncClient (SSL set up with SSL_VM_NONE) against an HTTPS
 * server instead. Prints one line per check; the test compares them. */
#include <hpsocket/HPSocket4C-SSL.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int callbacks[4]; /* status lines, headers, bodies, completes */

static En_HP_HttpParseResult __HP_CALL OnStatusLine(HP_HttpClient c, HP_CONNID id, USHORT status, LPCSTR desc)
{
    (void)c, (void)id, (void)status, (void)desc;
    callbacks[0]++;
    return HPR_OK;
}
static En_HP_HttpParseResult __HP_CALL OnHeader(HP_HttpClient c, HP_CONNID id, LPCSTR n, LPCSTR v)
{
    (void)c, (void)id, (void)n, (void)v;
    callbacks[1]++;
    return HPR_OK;
}
static En_HP_HttpParseResult __HP_CALL OnBody(HP_HttpClient c, HP_CONNID id, const BYTE* d, int n)
{
    (void)c, (void)id, (void)d, (void)n;
    callbacks[2]++;
    return HPR_OK;
}

static sem_t answered;
static char async_out[4096];

static En_HP_HttpParseResult __HP_CALL OnMessageComplete(HP_HttpClient c, HP_CONNID id)
{
    (void)id;
    callbacks[3]++;
    if (HP_Client_GetExtra(c) == (PVOID)1) {
        /* the asynchronous client: note the answer */
        LPCSTR ct = HP_HttpClient_GetContentType(c);
        size_t n = strlen(async_out);
        snprintf(async_out + n, sizeof(async_out) - n, "async %u %s len=%llu|", HP_HttpClient_GetStatusCode(c), ct ? ct : "-",
                 HP_HttpClient_GetContentLength(c));
        sem_post(&answered);
    }
    return HPR_OK;
}

static char async_body[4096];
static En_HP_HttpParseResult __HP_CALL OnAsyncBody(HP_HttpClient c, HP_CONNID id, const BYTE* d, int n)
{
    (void)c, (void)id;
    size_t have = strlen(async_body);
    if (have + n < sizeof(async_body)) {
        memcpy(async_body + have, d, n);
        async_body[have + n] = 0;
    }
    return HPR_OK;
}

static int prepared;
static long sent;
static char first_sent[16];

static En_HP_HandleResult __HP_CALL OnPrepareConnect(HP_Client c, HP_CONNID id, UINT_PTR s)
{
    (void)c;
    (void)id;
    (void)s;
    prepared++;
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnSend(HP_Client c, HP_CONNID id, const BYTE* d, int n)
{
    (void)c;
    (void)id;
    if (sent == 0)
        memcpy(first_sent, d, n < 15 ? n : 15);
    sent += n;
    return HR_OK;
}

static En_HP_HandleResult __HP_CALL OnConnect(HP_Client c, HP_CONNID id)
{
    (void)id;
    HP_THeader hs[] = {{"X-Test", "async"}};
    return HP_HttpClient_SendGet(c, "/async?n=1", hs, 1) ? HR_OK : HR_ERROR;
}

static void print_sync(HP_HttpSyncClient c, const char* what)
{
    LPCBYTE body = NULL;
    int len = 0;
    HP_HttpSyncClient_GetResponseBody(c, &body, &len);
    LPCSTR sid = NULL, multi = NULL;
    HP_HttpClient_GetCookie(c, "sid", &sid);
    DWORD n = 0;
    HP_HttpClient_GetHeaders(c, "X-Multi", NULL, &n);
    LPCSTR values[4] = {0};
    DWORD room = 4;
    if (n == 2 && HP_HttpClient_GetHeaders(c, "X-Multi", values, &room))
        multi = values[1];
    printf("%s status=%u ver=%u ka=%d sid=%s multi=%u/%s body=%.*s\n", what, HP_HttpClient_GetStatusCode(c),
           (unsigned)HP_HttpClient_GetVersion(c), HP_HttpClient_IsKeepAlive(c), sid ? sid : "-", n, multi ? multi : "-",
           len, body ? (const char*)body : "");
}

int main(int argc, char** argv)
{
    if (argc < 2)
        return 2;
    int port = atoi(argv[1]);
    char url[256];

    if (argc > 2 && strcmp(argv[2], "https") == 0) {
        HP_HttpsSyncClient t = Create_HP_HttpsSyncClient(NULL);
        snprintf(url, sizeof(url), "https://127.0.0.1:%d/tls?q=1", port);
        BOOL ok = HP_HttpSyncClient_OpenUrl(t, "GET", url, NULL, 0, NULL, 0, FALSE);
        printf("before setup %d %d\n", ok, HP_Client_GetLastError(t) == SE_SSL_ENV_NOT_READY);
        if (!HP_SSLClient_SetupSSLContext(t, SSL_VM_NONE, NULL, NULL, NULL, NULL))
            printf("setup failed\n");
        if (!HP_HttpSyncClient_OpenUrl(t, "GET", url, NULL, 0, NULL, 0, FALSE))
            printf("tls get failed %d %d\n", HP_Client_GetLastError(t), SYS_GetLastError());
        print_sync(t, "tls");
        const char* big = "0123456789";
        if (!HP_HttpSyncClient_OpenUrl(t, "PUT", url, NULL, 0, (const BYTE*)big, 10, FALSE))
            printf("tls put failed %d\n", SYS_GetLastError());
        print_sync(t, "tls");
        snprintf(url, sizeof(url), "http://127.0.0.1:%d/", port);
        ok = HP_HttpSyncClient_OpenUrl(t, "GET", url, NULL, 0, NULL, 0, FALSE);
        printf("plain url on https %d %d\n", ok, HP_Client_GetLastError(t) == SE_CONNECT_SERVER);
        Destroy_HP_HttpsSyncClient(t);
        return 0;
    }

    HP_HttpClientListener l = Create_HP_HttpClientListener();
    HP_Set_FN_HttpClient_OnStatusLine(l, OnStatusLine);
    HP_Set_FN_HttpClient_OnHeader(l, OnHeader);
    HP_Set_FN_HttpClient_OnBody(l, OnBody);
    HP_Set_FN_HttpClient_OnMessageComplete(l, OnMessageComplete);

    HP_HttpSyncClient s = Create_HP_HttpSyncClient(l);
    if (HP_HttpSyncClient_GetConnectTimeout(s) != 5000 || HP_HttpSyncClient_GetRequestTimeout(s) != 10000 || !HP_HttpClient_IsUseCookie(s))
        printf("defaults wrong\n");
    HP_HttpSyncClient_SetRequestTimeout(s, 5000);

    HP_THeader hs[] = {{"X-Test", "one"}};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/a/b?x=1", port);
    if (!HP_HttpSyncClient_OpenUrl(s, "GET", url, hs, 1, NULL, 0, FALSE))
        printf("get failed %d %d\n", HP_Client_GetLastError(s), SYS_GetLastError());
    print_sync(s, "get");
    TCHAR addr[64];
    int alen = sizeof(addr);
    USHORT first = 0, now = 0;
    HP_Client_GetLocalAddress(s, addr, &alen, &first);

    const char* payload = "hello from C";
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/post", port);
    if (!HP_HttpSyncClient_OpenUrl(s, "post", url, NULL, 0, (const BYTE*)payload, (int)strlen(payload), FALSE))
        printf("post failed %d %d\n", HP_Client_GetLastError(s), SYS_GetLastError());
    print_sync(s, "post");
    alen = sizeof(addr);
    HP_Client_GetLocalAddress(s, addr, &alen, &now);
    printf("same connection %d\n", now == first && first != 0);

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/chunked", port);
    if (!HP_HttpSyncClient_OpenUrl(s, "GET", url, NULL, 0, NULL, 0, TRUE))
        printf("chunked failed %d\n", SYS_GetLastError());
    print_sync(s, "chunked");
    alen = sizeof(addr);
    HP_Client_GetLocalAddress(s, addr, &alen, &now);
    printf("reconnected %d\n", now != first && now != 0);

    snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
    BOOL ok = HP_HttpSyncClient_OpenUrl(s, "GET", url, NULL, 0, NULL, 0, FALSE);
    printf("wrong scheme %d %d\n", ok, HP_Client_GetLastError(s) == SE_CONNECT_SERVER);
    snprintf(url, sizeof(url), "http://127.0.0.1:1/");
    ok = HP_HttpSyncClient_OpenUrl(s, "GET", url, NULL, 0, NULL, 0, FALSE);
    printf("refused %d %d\n", ok, HP_Client_GetLastError(s) == SE_CONNECT_SERVER);
    printf("callbacks %d %d %d %d\n", callbacks[0] > 0, callbacks[1] > 0, callbacks[2] > 0, callbacks[3] == 3);
    HP_HttpSyncClient_CleanupRequestResult(s);
    Destroy_HP_HttpSyncClient(s);

    /* A listener-less sync client (HP allows NULL). */
    HP_HttpSyncClient bare = Create_HP_HttpSyncClient(NULL);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/bare", port);
    if (!HP_HttpSyncClient_OpenUrl(bare, "GET", url, NULL, 0, NULL, 0, FALSE))
        printf("bare failed %d\n", SYS_GetLastError());
    print_sync(bare, "bare");
    Destroy_HP_HttpSyncClient(bare);

    /* The asynchronous client. */
    sem_init(&answered, 0, 0);
    HP_HttpClientListener al = Create_HP_HttpClientListener();
    HP_Set_FN_HttpClient_OnPrepareConnect(al, OnPrepareConnect);
    HP_Set_FN_HttpClient_OnSend(al, OnSend);
    HP_Set_FN_HttpClient_OnConnect(al, OnConnect);
    HP_Set_FN_HttpClient_OnBody(al, OnAsyncBody);
    HP_Set_FN_HttpClient_OnMessageComplete(al, OnMessageComplete);
    HP_HttpClient a = Create_HP_HttpClient(al);
    HP_Client_SetExtra(a, (PVOID)1);
    HP_HttpClient_SetUseCookie(a, FALSE);
    if (!HP_Client_Start(a, "127.0.0.1", (USHORT)port, FALSE))
        printf("async start failed %d\n", SYS_GetLastError());
    sem_wait(&answered);
    HP_THeader ph[] = {{"Content-Type", "text/plain"}};
    if (!HP_HttpClient_SendPut(a, "/put", ph, 1, (const BYTE*)"put body", 8))
        printf("put failed %d\n", SYS_GetLastError());
    sem_wait(&answered);
    HP_Client_Stop(a);
    Destroy_HP_HttpClient(a);
    Destroy_HP_HttpClientListener(al);
    printf("%s\n", async_out);
    printf("async body %s\n", async_body);
    printf("async prepared=%d first=%s\n", prepared, first_sent);
    printf("async sent=%ld\n", sent);
    Destroy_HP_HttpClientListener(l);
    return 0;
}
