/* HP-Socket's TestHttpServer shape, in C on libhpsocket4c: an HttpServer whose
 * OnMessageComplete answers every request `200 Hello, World!` (text/plain) with
 * HP_HttpServer_SendResponse, after reading what an HP handler usually reads (method, path,
 * keep-alive). One worker (shard) unless argv[1] says otherwise; TCP_NODELAY; prints
 * "READY <port>" once listening and runs until stdin closes. */
#include <hpsocket/HPSocket4C.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char HELLO[] = "Hello, World!";

static En_HP_HttpParseResult __HP_CALL OnMessageComplete(HP_HttpServer s, HP_CONNID id)
{
    LPCSTR method = HP_HttpServer_GetMethod(s, id);
    LPCSTR path = HP_HttpServer_GetUrlField(s, id, HUF_PATH);
    if (!method || !path || path[0] != '/')
        return HPR_ERROR;
    HP_THeader hs[] = {{"Content-Type", "text/plain"}};
    if (!HP_HttpServer_SendResponse(s, id, 200, NULL, hs, 1, (const BYTE*)HELLO, (int)strlen(HELLO)))
        return HPR_ERROR;
    if (!HP_HttpServer_IsKeepAlive(s, id))
        HP_HttpServer_Release(s, id);
    return HPR_OK;
}

static En_HP_HandleResult __HP_CALL OnClose(HP_Server s, HP_CONNID id, En_HP_SocketOperation op, int err)
{
    (void)s; (void)id; (void)op; (void)err;
    return HR_OK;
}

int main(int argc, char* argv[])
{
    HP_HttpServerListener listener = Create_HP_HttpServerListener();
    HP_Set_FN_HttpServer_OnMessageComplete(listener, OnMessageComplete);
    HP_Set_FN_HttpServer_OnClose(listener, OnClose);
    HP_HttpServer server = Create_HP_HttpServer(listener);
    HP_Server_SetWorkerThreadCount(server, argc > 1 ? (DWORD)atoi(argv[1]) : 1);
    HP_Server_SetMaxConnectionCount(server, 100000);
    HP_TcpServer_SetNoDelay(server, TRUE);
    if (!HP_Server_Start(server, "127.0.0.1", 0)) {
        fprintf(stderr, "start: %s\n", HP_Server_GetLastErrorDesc(server));
        return 1;
    }
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port = 0;
    HP_Server_GetListenAddress(server, addr, &len, &port);
    printf("READY %u\n", port);
    fflush(stdout);
    while (getchar() != EOF) {
    }
    HP_Server_Stop(server);
    Destroy_HP_HttpServer(server);
    Destroy_HP_HttpServerListener(listener);
    return 0;
}
