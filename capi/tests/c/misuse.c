/* Misuse from C: NULL handles and buffers, unknown connection ids, calls before Start and
 * after Stop, buffers too small. Every call must return FALSE / an error code, never crash. */
#include <hpsocket/HPSocket4C.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;
#define EXPECT(cond) do { if (!(cond)) { printf("FAIL line %d: %s\n", __LINE__, #cond); failures++; } } while (0)

static En_HP_HandleResult __HP_CALL OnReceive(HP_Server pSender, HP_CONNID dwConnID, const BYTE* pData, int iLength)
{
    (void)pSender; (void)dwConnID; (void)pData; (void)iLength;
    return HR_OK;
}

int main(void)
{
    BYTE buf[16] = {0};
    TCHAR addr[64];
    int len = sizeof(addr);
    USHORT port;
    DWORD count = 0;

    /* NULL everywhere */
    EXPECT(Create_HP_TcpServer(NULL) == NULL);
    EXPECT(!HP_Server_Start(NULL, "127.0.0.1", 0));
    EXPECT(!HP_Server_Send(NULL, 1, buf, 1));
    EXPECT(!HP_Server_Stop(NULL));
    EXPECT(HP_Server_GetConnectionCount(NULL) == 0);
    EXPECT(HP_Server_GetState(NULL) == SS_STOPPED);
    EXPECT(HP_Server_GetLastError(NULL) == SE_INVALID_PARAM);
    EXPECT(HP_TcpPullServer_Fetch(NULL, 1, buf, 1) == FR_DATA_NOT_FOUND);
    EXPECT(!HP_Client_Send(NULL, buf, 1));
    EXPECT(!HP_Agent_Connect(NULL, "127.0.0.1", 1, NULL));
    Destroy_HP_TcpServer(NULL);
    Destroy_HP_TcpServerListener(NULL);
    HP_Set_FN_Server_OnReceive(NULL, OnReceive);

    HP_TcpServerListener l = Create_HP_TcpServerListener();
    HP_Set_FN_Server_OnReceive(l, OnReceive);
    HP_TcpServer s = Create_HP_TcpServer(l);

    /* before Start */
    EXPECT(HP_Server_Wait(s, 0)); /* never started: stopped already, as HP */
    EXPECT(!HP_Server_Send(s, 1, buf, 1));
    EXPECT(SYS_GetLastError() == EPERM);
    EXPECT(!HP_Server_Stop(s));
    EXPECT(!HP_Server_GetAllConnectionIDs(s, NULL, &count));
    EXPECT(!HP_Server_HasStarted(s));

    /* a bad bind address: SE_SOCKET_BIND or SE_INVALID_PARAM, with a description */
    EXPECT(!HP_Server_Start(s, "256.1.1.1", 0));
    EXPECT(HP_Server_GetLastError(s) == SE_INVALID_PARAM || HP_Server_GetLastError(s) == SE_SOCKET_BIND);
    EXPECT(strlen(HP_Server_GetLastErrorDesc(s)) > 0);

    EXPECT(HP_Server_Start(s, "127.0.0.1", 0));
    EXPECT(HP_Server_HasStarted(s));
    /* unknown ids */
    EXPECT(!HP_Server_Send(s, 12345, buf, 1));
    EXPECT(SYS_GetLastError() == ENOENT);
    EXPECT(!HP_Server_Disconnect(s, 0, TRUE));
    EXPECT(!HP_Server_IsConnected(s, 12345));
    EXPECT(!HP_Server_GetRemoteAddress(s, 12345, addr, &len, &port));
    EXPECT(HP_TcpPullServer_Fetch(s, 12345, buf, 1) == FR_DATA_NOT_FOUND);
    PVOID extra;
    EXPECT(!HP_Server_GetConnectionExtra(s, 12345, &extra));
    EXPECT(!HP_Server_GetConnectionExtra(s, 12345, NULL));
    /* bad buffers */
    EXPECT(!HP_Server_Send(s, 12345, NULL, 5));
    EXPECT(!HP_Server_Send(s, 12345, buf, -1));
    EXPECT(!HP_Server_SendPackets(s, 12345, NULL, 3));
    EXPECT(!HP_Server_GetListenAddress(s, addr, NULL, &port));
    len = 1;
    EXPECT(!HP_Server_GetListenAddress(s, addr, &len, &port));
    EXPECT(len == 10);
    /* no connections: a NULL id buffer reports 0 needed and succeeds with room 0 */
    count = 0;
    EXPECT(HP_Server_GetAllConnectionIDs(s, NULL, &count) || count == 0);
    EXPECT(!HP_Server_GetAllConnectionIDs(s, NULL, NULL));

    EXPECT(HP_Server_Stop(s));
    EXPECT(!HP_Server_Stop(s)); /* already stopped */
    EXPECT(!HP_Server_Send(s, 12345, buf, 1));
    EXPECT(HP_Server_GetState(s) == SS_STOPPED);
    /* restart after stop */
    EXPECT(HP_Server_Start(s, "127.0.0.1", 0));
    EXPECT(HP_Server_Stop(s));
    Destroy_HP_TcpServer(s);
    Destroy_HP_TcpServerListener(l);

    /* a client's extra is the client's: set before Start, read back */
    HP_TcpClientListener cl = Create_HP_TcpClientListener();
    HP_TcpClient c = Create_HP_TcpClient(cl);
    HP_Client_SetExtra(c, (PVOID)42);
    EXPECT(HP_Client_GetExtra(c) == (PVOID)42);
    EXPECT(HP_Client_Wait(c, 0));
    EXPECT(!HP_Client_Start(c, NULL, 1, FALSE));
    Destroy_HP_TcpClient(c);
    Destroy_HP_TcpClientListener(cl);

    /* HTTP: NULL handles, a server not started, unknown ids, bad arguments, a TCP handle */
    EXPECT(!HP_HttpServer_SendResponse(NULL, 1, 200, NULL, NULL, 0, NULL, 0));
    EXPECT(HP_HttpServer_GetMethod(NULL, 1) == NULL);
    HP_HttpServerListener hl = Create_HP_HttpServerListener();
    HP_HttpServer hs = Create_HP_HttpServer(hl);
    EXPECT(!HP_HttpServer_SendResponse(hs, 1, 200, NULL, NULL, 0, NULL, 0));
    EXPECT(HP_HttpServer_GetUrlFieldSet(hs, 1) == 0);
    EXPECT(HP_Server_Start(hs, "127.0.0.1", 0));
    EXPECT(!HP_HttpServer_SendResponse(hs, 12345, 200, NULL, NULL, 0, NULL, 0));
    EXPECT(!HP_HttpServer_SendResponse(hs, 12345, 200, NULL, NULL, 2, NULL, 0));
    EXPECT(!HP_HttpServer_SendChunkData(hs, 12345, NULL, 5, NULL));
    EXPECT(!HP_HttpServer_SendLocalFile(hs, 12345, NULL, 200, NULL, NULL, 0));
    EXPECT(HP_HttpServer_GetMethod(hs, 12345) == NULL);
    EXPECT(HP_HttpServer_GetUrlField(hs, 12345, HUF_PATH) == NULL);
    EXPECT(HP_HttpServer_GetHost(hs, 12345) == NULL);
    LPCSTR hv = NULL;
    EXPECT(!HP_HttpServer_GetHeader(hs, 12345, "Host", &hv));
    EXPECT(!HP_HttpServer_GetHeader(hs, 12345, NULL, &hv));
    EXPECT(!HP_HttpServer_GetCookie(hs, 12345, "a", NULL));
    DWORD hn = 5;
    EXPECT(!HP_HttpServer_GetAllHeaders(hs, 12345, NULL, &hn) && hn == 0);
    EXPECT(!HP_HttpServer_GetAllCookies(hs, 12345, NULL, NULL));
    EXPECT(!HP_HttpServer_GetWSMessageState(hs, 12345, NULL, NULL, NULL, NULL, NULL, NULL));
    EXPECT(!HP_HttpServer_SendWSMessage(hs, 12345, TRUE, 0, 0x20, NULL, 0, 0));
    EXPECT(!HP_HttpServer_SendWSMessage(hs, 12345, TRUE, 0, 0x1, (const BYTE*)"abc", 3, 2));
    EXPECT(!HP_HttpServer_Release(hs, 12345));
    EXPECT(!HP_HttpServer_StartHttp(hs, 12345));
    EXPECT(HP_Server_Stop(hs));
    Destroy_HP_HttpServer(hs);
    Destroy_HP_HttpServerListener(hl);
    HP_TcpServerListener tl = Create_HP_TcpServerListener();
    HP_TcpServer ts = Create_HP_TcpServer(tl);
    EXPECT(HP_HttpServer_GetMethod(ts, 1) == NULL); /* not an HTTP server */
    EXPECT(!HP_HttpServer_Release(ts, 1));
    EXPECT(!HP_HttpSyncClient_OpenUrl(ts, "GET", "http://127.0.0.1:1/", NULL, 0, NULL, 0, FALSE));

    /* HTTP clients: NULL, not started (HP dereferences NULL here), bad URLs and arguments */
    EXPECT(HP_HttpClient_GetStatusCode(NULL) == 0);
    HP_HttpSyncClient sc = Create_HP_HttpSyncClient(NULL);
    EXPECT(sc != NULL);
    EXPECT(HP_HttpClient_GetStatusCode(sc) == 0);
    EXPECT(HP_HttpClient_GetContentType(sc) == NULL);
    LPCBYTE sbody = (LPCBYTE)1;
    int sblen = -1;
    EXPECT(HP_HttpSyncClient_GetResponseBody(sc, &sbody, &sblen) && sbody == NULL && sblen == 0);
    EXPECT(!HP_HttpSyncClient_GetResponseBody(sc, NULL, NULL));
    EXPECT(!HP_HttpSyncClient_OpenUrl(sc, "GET", "not a url", NULL, 0, NULL, 0, FALSE));
    EXPECT(HP_Client_GetLastError(sc) == SE_CONNECT_SERVER);
    EXPECT(!HP_HttpSyncClient_OpenUrl(sc, "GET", NULL, NULL, 0, NULL, 0, FALSE));
    EXPECT(!HP_HttpSyncClient_OpenUrl(sc, "GET", "http://127.0.0.1:1/", NULL, 3, NULL, 0, FALSE));
    EXPECT(!HP_HttpSyncClient_OpenUrl(sc, "GET", "http://127.0.0.1:1/", NULL, 0, NULL, -1, FALSE));
    EXPECT(!HP_HttpClient_SendGet(sc, "/", NULL, 0));
    EXPECT(!HP_HttpClient_SendWSMessage(sc, TRUE, 0, 1, NULL, NULL, 0, 0));
    EXPECT(!HP_HttpSyncClient_CleanupRequestResult(sc)); /* nothing to clean before a request */
    Destroy_HP_HttpSyncClient(sc);
    EXPECT(Create_HP_HttpClient(NULL) == NULL); /* an async client needs a listener */
    Destroy_HP_TcpServer(ts);
    Destroy_HP_TcpServerListener(tl);

    EXPECT(strcmp(HP_GetSocketErrorDesc(SE_SOCKET_BIND), "Bind SOCKET Fail") == 0);
    EXPECT(SYS_GetLastErrorStr() != NULL);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
